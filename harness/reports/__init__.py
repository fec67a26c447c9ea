"""What a run tells people and CI: the console summary, JSON, JUnit and HTML reports, the text
excerpts of a session, and the serve log.
"""
