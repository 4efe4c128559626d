from sheetstream.cli import main

raise SystemExit(main())
