"""Write commands: one module per verb, the only door through which anything is written.

The GraphQL resolvers and the CLI call these; neither touches a store (DESIGN.md, "Writes:
one door per verb"). Each command checks its preconditions inside the store's write
transaction (`GraphStore.transact`) against the committed state, refuses with
`graph.errors.PreconditionFailed` when one fails, is idempotent under a client-chosen key,
and returns `Committed` (the consistency token of its commit and the ids it wrote).

Verbs: record_consent, give_consent (a family's own, digital), revoke_consent, correct_consent, start_service,
change_service_status, end_service, record_training, sign_agreement, add_provider,
assign_to_team, transfer_student, verify_guardian, load (importer), create_token,
rotate_token, revoke_token.
"""

from graph.commands.add_provider import AddProvider, add_provider
from graph.commands.assign_to_team import AssignToTeam, assign_to_team
from graph.commands.base import Committed, fingerprint
from graph.commands.change_service_status import ChangeServiceStatus, change_service_status
from graph.commands.correct_consent import CorrectConsent, correct_consent
from graph.commands.create_token import CreateToken, create_token
from graph.commands.end_service import EndService, end_service
from graph.commands.give_consent import GiveConsent, give_consent
from graph.commands.record_consent import RecordConsent, record_consent
from graph.commands.record_training import RecordTraining, record_training
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.commands.revoke_token import revoke_token
from graph.commands.rotate_token import RotateToken, rotate_token
from graph.commands.sign_agreement import SignAgreement, sign_agreement
from graph.commands.start_service import StartService, start_service
from graph.commands.transfer_student import TransferStudent, transfer_student
from graph.commands.verify_guardian import VerifyGuardian, verify_guardian

__all__ = [
    "AddProvider",
    "AssignToTeam",
    "ChangeServiceStatus",
    "Committed",
    "CorrectConsent",
    "CreateToken",
    "EndService",
    "GiveConsent",
    "RecordConsent",
    "RecordTraining",
    "RevokeConsent",
    "RotateToken",
    "SignAgreement",
    "StartService",
    "TransferStudent",
    "VerifyGuardian",
    "add_provider",
    "assign_to_team",
    "change_service_status",
    "correct_consent",
    "create_token",
    "end_service",
    "give_consent",
    "fingerprint",
    "record_consent",
    "record_training",
    "revoke_consent",
    "revoke_token",
    "rotate_token",
    "sign_agreement",
    "start_service",
    "transfer_student",
    "verify_guardian",
]
