"""`approval`: signatures. `approve` collects one; any other outcome decides at once.

`approvals: all` needs one signature per role (in the listed order with `order: sequence`); N needs N
different people, including every role in `required_roles` (and, with `distinct_roles: true`, of N different
roles). Nobody signs twice, and the starter may not sign unless `allow_self: true`. With `vote: true` another
outcome is a vote against: it decides only once the approvals still needed can no longer be reached (of the
roles, one vote each, with `distinct_roles`; of `voters` people otherwise).

An escalated or reassigned role decides alone. Each signature records who, role,
acting-for, time, comment and the hash of the data signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Forbidden
from .base import ChoiceStep, register
from .schema import COMMENT_REQUIRED, IDS, OUTCOMES, TASK, step


@register
@dataclass(kw_only=True)
class ApprovalStep(ChoiceStep):
    kind = "approval"
    word = "審批"
    verb = "審批"
    escalation_note = "，其簽署即可單獨決定"
    printed_as = "signed"  # a printout's `signed.<step>`: its last signature (missing until signed)
    approvals: int | str = 1
    order: str = "any"
    required_roles: tuple[str, ...] = ()
    allow_self: bool = False
    distinct_roles: bool = False
    vote: bool = False
    voters: int | None = None  # the panel's size, for a vote without distinct roles

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "outcomes"], dict(
            TASK, fields=IDS, required=IDS, outcomes=OUTCOMES,
            approvals={"oneOf": [{"type": "integer", "minimum": 1}, {"const": "all"}]},
            order={"enum": ["any", "sequence"]}, required_roles=IDS, allow_self={"type": "boolean"},
            distinct_roles={"type": "boolean"}, vote={"type": "boolean"}, voters={"type": "integer", "minimum": 1},
            comment_required=COMMENT_REQUIRED))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(super().options(b, kp, spec), approvals=spec.get("approvals", 1), order=spec.get("order", "any"),
                    required_roles=tuple(spec.get("required_roles", ())), allow_self=spec.get("allow_self", False),
                    distinct_roles=spec.get("distinct_roles", False), vote=spec.get("vote", False),
                    voters=spec.get("voters"))

    def lint(self, c: Any) -> None:
        super().lint(c)
        kp = self.keypath
        for i, role in enumerate(self.required_roles):
            if role not in self.roles:
                c.problem(kp + ("required_roles", i), f"required role '{role}' is not one of the step's roles; "
                                                      "add it to `roles`")
        if isinstance(self.approvals, int) and self.approvals > 1 and "approve" not in self.outcomes:
            c.problem(kp + ("outcomes",), "an approval needing several signatures must have an 'approve' outcome")
        if self.order == "sequence" and self.approvals != "all":
            c.problem(kp + ("order",), "order: sequence needs approvals: all (one signature per role, in the "
                                       "order of `roles`)")
        many = self.approvals == "all" or int(self.approvals) > 1
        if self.distinct_roles and isinstance(self.approvals, int) and self.approvals > len(self.roles):
            c.problem(kp + ("approvals",), f"{self.approvals} signatures of different roles cannot be reached with "
                                           f"{len(self.roles)} roles; lower `approvals` or add roles")
        elif self.distinct_roles and not many:
            c.warn(kp + ("distinct_roles",), "`distinct_roles` matters only with several approvals; leave it out")
        if self.assign is not None and many:
            c.problem(kp + ("assign",), "an approval needing several signatures cannot go to one person: leave out "
                                        "`assign`, or ask for one signature (`approvals: 1`)")
        if self.vote and not many:
            c.problem(kp + ("vote",), "a vote needs several approvals (`approvals: 2` or `all`); leave out `vote` "
                                      "for one signature")
        elif self.vote and self.approvals != "all" and not self.distinct_roles and self.voters is None:
            c.problem(kp + ("vote",), "a vote must know when the approvals can no longer be reached: add "
                                      "`distinct_roles: true` (one vote per role) or `voters: N` (the panel's size)")
        elif self.vote and self.voters is not None and isinstance(self.approvals, int) \
                and self.voters < self.approvals:
            c.problem(kp + ("voters",), f"{self.voters} voters cannot give {self.approvals} approvals")
        if self.voters is not None and not self.vote:
            c.problem(kp + ("voters",), "`voters` counts a vote: add `vote: true` or leave it out")

    # --- running --------------------------------------------------------------------------------------
    def on_open(self, run: Any, task: dict) -> None:
        task["signatures"] = []
        if not task.get("assignee"):
            task["roles"] = self.candidates(task)

    def candidates(self, task: dict) -> list[str]:
        """Roles that may act now, given the signatures so far (and any escalated roles, which may decide
        alone; after a reassignment only they may)."""
        override = task.get("override", [])
        if task.get("reassigned"):
            return list(override)
        pool = task.get("pool") or list(self.roles)
        signed = [s["role"] for s in task["signatures"]]
        used = signed + [s["role"] for s in task.get("against", ())]
        if self.approvals == "all":
            missing = [r for r in pool if r not in signed]
            base = missing[:1] if self.order == "sequence" else missing
        else:
            need_required = [r for r in self.required_roles if r not in signed]
            slots = int(self.approvals) - len(task["signatures"])
            base = need_required if need_required and slots <= len(need_required) else list(pool)
            if self.distinct_roles:
                base = [r for r in base if r not in used]
        return base + [r for r in override if r not in base]

    def reachable(self, task: dict) -> bool:
        """Can the approvals still needed be given, after the votes against so far?"""
        against = task.get("against", [])
        if self.approvals == "all":
            return not against
        needed = int(self.approvals) - len(task["signatures"])
        if self.distinct_roles:
            voted = {s["role"] for s in task["signatures"]} | {s["role"] for s in against}
            left = len([r for r in task.get("pool") or self.roles if r not in voted])
        else:
            left = (self.voters or 0) - len(task["signatures"]) - len(against)
        return left >= needed

    def done(self, task: dict) -> bool:
        signed = {s["role"] for s in task["signatures"]}
        if signed & set(task.get("override", ())):
            return True  # an escalated or reassigned role decides alone
        if self.approvals == "all":
            return all(r in signed for r in task.get("pool") or self.roles)
        return len(task["signatures"]) >= int(self.approvals) and all(r in signed for r in self.required_roles)

    def refusal(self, state: dict, task: dict, acting_for: str | None, user: str) -> str | None:
        """Own request, or signed already."""
        people = {user, acting_for} - {None}
        if not self.allow_self and state["started_by"] in people:
            return f"「{self.title}」不能由申請人「{state['started_by']}」自己審批"
        for signature in task.get("signatures", []) + task.get("against", []):
            if {signature["by"], signature["acting_for"]} & people:
                return f"「{signature['by']}」已經在「{self.title}」簽過名；每個簽名須由不同的人"
        return None

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
                 comment: str | None) -> None:
        self.check_outcome(outcome, comment)
        refusal = run.refusal(self, task, who)
        if refusal:
            raise Forbidden(refusal)
        run.write_fields(self, data)
        signature = dict(who, step=self.id, outcome=outcome, comment=comment, data_hash=run.data_hash())
        run.state["approvals"].append(signature)
        if outcome == "approve":
            task["signatures"].append(signature)
            if not self.done(task):
                task["roles"] = self.candidates(task)
                run.emit("signed", self.id, task_id, dict(signature, remaining=task["roles"]))
                return
        elif self.vote and not task.get("override"):
            task.setdefault("against", []).append(signature)
            if self.reachable(task):
                task["roles"] = self.candidates(task)
                run.emit("signed", self.id, task_id, dict(signature, remaining=task["roles"], against=True))
                return
        self.finish(run, task_id, task, who, outcome, data, comment, self.next_step(outcome),
                    write=False, signatures=task.get("signatures", []), data_hash=signature["data_hash"])

    # --- views ----------------------------------------------------------------------------------------
    def print_value(self, paper: Any) -> Any:
        mine = [a for a in paper.approvals if a["step"] == self.id]
        return mine[-1] if mine else None

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        return dict(super().task_view(task, data, wf), signatures=task.get("signatures", []),
                    against=task.get("against", []), approvals=self.approvals)

    def describe(self) -> dict:
        return dict(super().describe(), approvals=self.approvals, order=self.order,
                    required_roles=list(self.required_roles), allow_self=self.allow_self,
                    distinct_roles=self.distinct_roles, vote=self.vote, voters=self.voters,
                    comment_required=sorted(self.comment_required))

    def manual(self, m: Any) -> None:
        m.line("簽署規則", [(self.rule(m), "")])
        m.fields(self, "審批時填寫")
        m.outcomes(self, "審批結果", "審批人選擇以下之一：", "（須填寫意見）",
                   lambda name: "達到簽署規則後" if name == "approve" else "一經選擇即作決定，")

    def rule(self, m: Any) -> str:
        """The signing rule in words."""
        names = [m.role(r) for r in self.roles]
        if self.outcomes and "approve" not in self.outcomes:
            rule = f"由{'、'.join(names)}任一人作出決定" if len(names) > 1 else f"由{''.join(names)}作出決定"
        elif self.approvals == "all":
            if self.order == "sequence" and len(names) > 1:
                rule = f"須依序由 {' → '.join(names)} 各一人簽署同意"
            elif len(names) > 1:
                rule = f"須 {'、'.join(names)} 每一職務各一人簽署同意（不分先後）"
            else:
                rule = f"須由{names[0] if names else '審批人'}簽署同意"
        elif self.approvals in (1, "1"):
            rule = f"由{'、'.join(names)}任一人簽署同意即可" if len(names) > 1 else f"由{''.join(names)}簽署同意"
        else:
            rule = f"須 {self.approvals} 位不同人員（{'、'.join(names)}）簽署同意"
            if self.order == "sequence":
                rule += "，依上列職務順序"
        if self.required_roles:
            rule += f"，其中須包括{m.roles(self.required_roles)}"
        if self.distinct_roles and self.approvals != "all":
            rule += "，且須分屬不同職務"
        if self.approvals not in (1, "1") and "approve" in self.outcomes:
            rule += "；同一人不得重複簽署"
        if self.vote:
            panel = "每一職務一票" if self.distinct_roles or self.approvals == "all" else f"共 {self.voters} 人投票"
            rule += f"；採表決（{panel}），選擇其他結果為反對票，待所需同意票已無法達到時才作決定"
        rule += "；發起人本人亦可簽署" if self.allow_self else "；發起人不得審批自己發起的流程"
        return rule + "。每一簽署記錄簽署人、職務、代理關係、時間、意見及所簽資料的雜湊值"
