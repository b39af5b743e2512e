from services.common.runtime import main
from services.digitization.app import build

raise SystemExit(main(build))
