"""Ingest API: Clerk auth, validation, rate limits, publish, job status and SSE"""
