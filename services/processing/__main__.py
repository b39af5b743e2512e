from services.common.runtime import main
from services.processing.app import build

raise SystemExit(main(build))
