from smspark.jobs.predict import main

raise SystemExit(main())
