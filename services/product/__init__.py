"""The product's own rules, which the runtime is given and never holds: who may do what
(`roles.py`) and what every document prints the same (`stationery.py`).

Pure data: it imports neither the runtime (services/common) nor a service; each service's
wiring (`app.py`) and its document renderers hand these to the runtime.
"""
