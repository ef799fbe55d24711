from chat.cli.main import main

raise SystemExit(main())
