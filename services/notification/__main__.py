from services.common.runtime import main
from services.notification.app import build

raise SystemExit(main(build))
