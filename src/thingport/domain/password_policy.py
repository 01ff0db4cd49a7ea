"""The enforced rules of ThingsBoard's password policy, as pure functions of a password."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Final

from thingport.errors import BadRequest

_SPECIAL: Final = frozenset(string.punctuation)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The enforced part of ThingsBoard's ``passwordPolicy``; the defaults are ThingsBoard's
    (6 to 72 characters, nothing else required)."""

    minimum_length: int = 6
    maximum_length: int | None = 72
    minimum_uppercase: int = 0
    minimum_lowercase: int = 0
    minimum_digits: int = 0
    minimum_special: int = 0
    allow_whitespaces: bool = True

    def problems(self, password: str) -> list[str]:
        """What is wrong with ``password``, in ThingsBoard's (Passay's) words; empty if
        nothing is."""
        found = []
        if len(password) < self.minimum_length:
            found.append(f"Password must be {self.minimum_length} or more characters in length.")
        if self.maximum_length is not None and len(password) > self.maximum_length:
            found.append(
                f"Password must be no more than {self.maximum_length} characters in length."
            )
        counts = [
            (self.minimum_uppercase, "uppercase", string.ascii_uppercase),
            (self.minimum_lowercase, "lowercase", string.ascii_lowercase),
            (self.minimum_digits, "digit", string.digits),
            (self.minimum_special, "special", _SPECIAL),
        ]
        for minimum, kind, chars in counts:
            if minimum > 0 and sum(c in chars for c in password) < minimum:
                found.append(f"Password must contain {minimum} or more {kind} characters.")
        if not self.allow_whitespaces and any(c.isspace() for c in password):
            found.append("Password contains a whitespace character.")
        return found

    def check(self, password: str) -> None:
        """BadRequest with every problem of ``password`` (one a line), as ThingsBoard
        answers."""
        problems = self.problems(password)
        if problems:
            raise BadRequest("\n".join(problems))
