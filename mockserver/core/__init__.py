"""The service's behaviour without I/O: the session core (client frames in, server frames, records
and notes out), the events it builds, what each dialect accepts from a client, and the
typed notes and records through which the harness reads a session.
"""
