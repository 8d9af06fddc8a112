from smspark.jobs.ingest import main

raise SystemExit(main())
