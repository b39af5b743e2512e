from services.common.runtime import main
from services.intake.app import build

raise SystemExit(main(build))
