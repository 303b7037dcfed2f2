"""Client keys: one per client app or booth, made by admins, bound to slots, rate limited,
revocable; accepted as `Authorization: Bearer` on `/v1` and as the ingest password."""
