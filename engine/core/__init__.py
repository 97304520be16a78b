"""The pure core of the engine: what a contest is and how a member's session behaves.

Owns the lifecycle table (:mod:`.lifecycle`), the contest model and its checks
(:mod:`.contest`), the sans-I/O member session (:mod:`.session`) and its limits
(:mod:`.limits`), the live show's phases (:mod:`.show`), the wire messages
(:mod:`.messages`), the error codes (:mod:`.errors`), the settings (:mod:`.settings`) and the
views that turn stored records into messages (:mod:`.views`).

May import ``question_bank`` and ``scoring``'s pure models, and nothing that does I/O: no
redis, websockets, picows, starlette, no clock (time comes in as an argument). Checked by
import-linter.
"""
