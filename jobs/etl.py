from smspark.jobs.etl import main

raise SystemExit(main())
