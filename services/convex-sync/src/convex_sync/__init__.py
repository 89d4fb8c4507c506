"""convex-sync: writes agent outputs and recommendations into Convex over HTTP"""
