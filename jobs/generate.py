from smspark.jobs.generate import main

raise SystemExit(main())
