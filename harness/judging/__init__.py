"""Judging without I/O: the rules over a session's records (`Judge`, a round's rule table, the
scenario's own steps), findings and verdicts; `LiveJudge` runs the judge beside a server,
`check` over saved transcripts.
"""
