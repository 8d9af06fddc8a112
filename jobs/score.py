from smspark.jobs.score import main

raise SystemExit(main())
