"""The central service: accounts, trips, confirmations, the permit compiler, gate event ingest, sync API."""
