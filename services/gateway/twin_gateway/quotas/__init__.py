"""quotas"""
