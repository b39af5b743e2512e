import sys

from services.common.runtime import main
from services.reporting.app import build

if sys.argv[1:2] == ["rebuild"]:
    from services.reporting.rebuild import main as rebuild

    raise SystemExit(rebuild(sys.argv[2:]))
raise SystemExit(main(build))
