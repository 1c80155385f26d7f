"""Text a request must not leave blank, stated so the OpenAPI document and the check agree.

``\\S`` in a JSON Schema pattern is ECMA-262's, which clients and fuzzers read with their own
regular-expression dialects, while pydantic checks it with Python's ``re``: they disagree on
characters such as form feed or U+001C. Spelling Python's whitespace out as a character
class makes "at least one character that is not whitespace" mean the same everywhere.
"""

from __future__ import annotations

# Python's str.isspace() characters, listed: a match is one character outside them.
NOT_BLANK = "[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
