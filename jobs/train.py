from smspark.jobs.train import main

raise SystemExit(main())
