"""Processing's documents: the control slip, the apology letter and the result document.

- control_slip.py: the control slip as data (pure; the API's JSON)
- form_sets.py: which dated form a document follows; wording.py: its Vietnamese words
- slip_pdf.py: the control slip as a PDF; letters.py: the apology letter and the result

Rendering uses services.common.pdf (DejaVu Sans, shared with intake's slips); every printed
time is in Asia/Ho_Chi_Minh. Import the module you need: this package re-exports nothing,
so the pure builder does not pull in the PDF library.
"""
