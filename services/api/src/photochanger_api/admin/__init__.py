"""The admin API: login, slots, settings, template media, jobs, stats and test runs.

Every route here needs `Authorization: Bearer <JWT>` from `POST /api/login` and checks one
permission of the token's `permissions` claim (401 without a valid token, 403 without the
permission). Kept free of imports so `python -m photochanger_api.admin.hash_password` starts
fast."""
