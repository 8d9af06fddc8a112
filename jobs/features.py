from smspark.jobs.features import main

raise SystemExit(main())
