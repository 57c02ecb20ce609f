"""The vault: secrets, versions, stages, envelope encryption. The only package that speaks SQL."""

from __future__ import annotations
