from services.common.runtime import main
from services.reporting.app import build

raise SystemExit(main(build))
