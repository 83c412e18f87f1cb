"""The words staff read: one table for statuses, standard outcomes, ledger entries and event types.

The UI, the API's display fields, messages, printouts, the work instruction, the graph and exports take
their words from here (kinds name themselves: `Step.word`); a definition's own words (step, field, outcome
and entry titles) come from its YAML. No id is ever shown in their place: where neither has a word, a
neutral one stands in (and `goldkey check` warns about the missing title).
"""

from __future__ import annotations

STATUS = {"active": "進行中", "completed": "已完成", "cancelled": "已取消"}
STATUS_SHORT = {"active": "進行中", "completed": "完成", "cancelled": "取消"}  # 案件已{…}
# the outcomes the engine gives a meaning to (an approval's signature; a reason asked by default)
OUTCOMES = {"approve": "同意", "reject": "不同意", "rework": "退回修改"}
DIRECTIONS = {"in": "收入", "out": "支出"}
# common ledger entry ids; a ledger may title its own (`entries: {fee: {direction: in, title: 收費}}`)
ENTRIES = {"deposit": "存入", "expense": "支出", "top_up": "加付", "refund": "退還", "deduct": "扣除",
           "charge": "收費", "payment": "付款", "fee": "收費", "withdraw": "提取"}
EVENTS = {
    "instance_started": "發起", "task_opened": "輪到", "task_completed": "完成", "signed": "簽署",
    "items_checked": "勾選", "task_expired": "逾時失效", "task_cancelled": "取消任務", "task_escalated": "逾時升級",
    "task_reassigned": "改派", "task_held": "暫停", "task_resumed": "恢復", "deadline_reminder": "提醒",
    "deadline_notice": "通知", "printout_issued": "列印", "ledger_posted": "臺帳記帳", "instance_ended": "結案",
    "decision_taken": "判斷", "parallel_started": "同時展開", "joined": "會合", "timer_set": "等待",
    "timer_fired": "等待結束", "child_started": "啟動子流程", "child_finished": "子流程結束",
    "start_delayed": "延後開始", "start_reached": "開始", "record_updated": "更新資料",
    "signature_captured": "錄入簽名", "signature_cleared": "清除簽名",
    "instance_migrated": "流程定義已更新至新版本",
    "task_assigned": "指派", "deadline_met": "時限達成",
}
CLOSED = {"task_completed": "完成", "task_expired": "逾時失效", "task_cancelled": "取消"}



def status(value: str | None) -> str:
    return STATUS.get(value or "", "—")


def event(kind: str) -> str:
    return EVENTS.get(kind, "記錄")


def entry(entry_id: str, direction: str | None = None) -> str:
    """A ledger entry in words when its ledger gives it no title: a common word, or its direction."""
    return ENTRIES.get(entry_id) or DIRECTIONS.get(direction or "", "記帳")
