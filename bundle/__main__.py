from bundle.cli import main

raise SystemExit(main())
