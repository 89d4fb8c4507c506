"""Orchestrator: each job's workflow as a SpoonOS StateGraph process manager"""
