from services.web.app import main

raise SystemExit(main())
