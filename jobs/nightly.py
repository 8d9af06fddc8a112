from smspark.jobs.nightly import main

raise SystemExit(main())
