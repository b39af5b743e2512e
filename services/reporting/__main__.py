import sys

from services.common.runtime import main
from services.reporting.app import build

# Guarded: importing this module (multiprocessing's spawn imports the parent's main module
# again, as __mp_main__) must not start the service.
if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        from services.reporting.rebuild import main as rebuild

        raise SystemExit(rebuild(sys.argv[2:]))
    raise SystemExit(main(build))
