from smspark.jobs.fetch_samples import main

raise SystemExit(main())
