"""The status page's words in English and Simplified Chinese.

``[status] language`` picks one (``en`` or ``zh``).  :class:`Translator`
returns a string by key, formatted with keyword arguments; a key the chosen
language lacks falls back to English, an unknown key raises KeyError (a test
checks that every key has both languages).  Only the status page, its JSON
texts (hints, health reasons) and error meanings are translated; machine
codes (hint codes, states) stay English.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "zh")

STRINGS: dict[str, tuple[str, str]] = {
    # page and header
    "title": ("SMS gateway {box}", "短信网关 {box}"),
    "health_green": ("OK", "正常"),
    "health_amber": ("NEEDS ATTENTION", "需要注意"),
    "health_red": ("NOT WORKING", "故障"),
    "reason_all_ok": ("All {n} lines can send.", "全部 {n} 条线路都可以发送。"),
    "reason_no_lines": ("No modem line is configured.", "没有配置任何调制解调器线路。"),
    "reason_none_usable": ("No line can send: {lines}.", "没有线路可以发送：{lines}。"),
    "reason_some_unusable": ("{bad} of {n} lines cannot send: {lines}.", "{n} 条线路中有 {bad} 条不能发送：{lines}。"),
    "reason_db": ("The database is not writable: messages cannot be stored ({error}).",
                  "数据库不可写：无法保存短信（{error}）。"),
    "reason_clock": ("The clock is wrong ({now}): daily quotas and dates are wrong. Set the time (NTP).",
                     "时钟错误（{now}）：每日限额和日期都会出错。请校准时间（NTP）。"),
    "reason_mqtt": ("MQTT is not connected: events wait on the box.", "MQTT 未连接：事件暂存在设备上。"),
    "reason_push": ("{n} events wait to be pushed, the oldest for {age}.", "{n} 条事件等待推送，最早的已等 {age}。"),
    "reason_disk": ("The disk is almost full: {free} free.", "磁盘快满了：剩余 {free}。"),
    "weak_banner": ("Change these passwords in the config before real use: {keys}.",
                    "正式使用前请在配置文件中修改这些密码：{keys}。"),
    "weak_default": ("the shipped default", "出厂默认值"),
    "weak_empty": ("empty: that API accepts anyone", "为空：该接口任何人都能调用"),
    "box": ("Box", "设备"),
    "version": ("Version", "版本"),
    "uptime": ("Running for", "运行时间"),
    "clock": ("Clock", "时钟"),
    "clock_wrong": ("WRONG: daily quotas count on the wrong day", "错误：每日限额会按错误的日期计算"),
    "mqtt": ("MQTT", "MQTT"),
    "mqtt_off": ("not configured", "未配置"),
    "mqtt_up": ("connected since {since}", "已连接，自 {since} 起"),
    "mqtt_up_plain": ("connected", "已连接"),
    "mqtt_down": ("NOT connected", "未连接"),
    "push": ("Push backlog", "推送积压"),
    "push_none": ("none", "无"),
    "push_backlog": ("{n} waiting, oldest {age}", "{n} 条待推送，最早 {age}"),
    "push_dropped": ("{n} given up", "{n} 条已放弃"),
    "database": ("Database", "数据库"),
    "db_ok": ("writable", "可写"),
    "db_bad": ("NOT writable", "不可写"),
    "disk_free": ("{free} free", "剩余 {free}"),
    "updated": ("Updated {time}", "更新于 {time}"),
    "stale": ("The box did not answer at {time}: the page shows older data.",
              "设备在 {time} 没有响应：页面显示的是旧数据。"),
    "machine": ("For machines:", "机器接口："),
    # lines
    "lines": ("Lines", "线路"),
    "state_starting": ("starting", "启动中"),
    "state_ready": ("online", "在线"),
    "state_busy": ("online, sending", "在线，发送中"),
    "state_recovering": ("recovering", "恢复中"),
    "state_offline": ("offline", "离线"),
    "state_disabled": ("disabled", "已停用"),
    "state_stopped": ("stopped", "已停止"),
    "provider": ("Provider", "运营商组"),
    "sim": ("SIM", "SIM 卡"),
    "sim_registered": ("registered", "已注册"),
    "sim_roaming": ("registered, roaming", "已注册，漫游"),
    "sim_not_registered": ("NOT registered", "未注册"),
    "operator": ("Operator", "运营商"),
    "signal": ("Signal", "信号"),
    "unknown": ("unknown", "未知"),
    "iccid": ("ICCID", "ICCID"),
    "imei": ("IMEI", "IMEI"),
    "today": ("Sent today", "今日已发"),
    "total": ("Sent in total", "累计已发"),
    "quota_of": ("{used} / {limit}", "{used} / {limit}"),
    "quota_unlimited": ("{used} (no limit)", "{used}（不限）"),
    "messages_today": ("Messages today: {sent} sent, {failed} failed", "今日短信：成功 {sent} 条，失败 {failed} 条"),
    "last_error": ("Last error", "最近错误"),
    "last_send": ("Last send", "最近发送"),
    "never": ("never", "从未"),
    "none": ("none", "无"),
    "recovery_ping": ("Not answering: asking it again.", "无应答：正在重新询问。"),
    "recovery_reinit": ("Not answering: setting it up again.", "无应答：正在重新初始化。"),
    "recovery_reset": ("Not answering: restarting the modem (up to {wait}).", "无应答：正在重启模块（最多 {wait}）。"),
    "recovery_reopen": ("Not answering: reconnecting to its port, next try within {wait}.",
                        "无应答：正在重新连接端口，{wait} 内再试。"),
    "recovery_quarantine": ("Not answering: taken back once replugged or answering (full retry every {wait}).",
                            "无应答：重新插上或恢复应答后立即接回（每 {wait}完整重试一次）。"),
    "recovery_other": ("Not answering: trying to bring it back.", "无应答：正在尝试恢复。"),
    "modem_on": ("{model} on {device}", "{model}，端口 {device}"),
    "model_unknown": ("Modem of unknown model", "型号未知的模块"),
    "last_known": ("Last known values (the modem does not answer now):", "以下为最后已知的数据（模块当前无应答）："),
    "hint_disabled": ("Line disabled by an operator.", "线路已被管理员停用。"),
    "hint_starting": ("Starting...", "正在启动……"),
    "hint_no_sim": ("SIM not inserted: insert a SIM card.", "未插入 SIM 卡：请插入 SIM 卡。"),
    "hint_sim_pin": ("The SIM asks for its PIN: set pin in the config.", "SIM 卡需要 PIN 码：请在配置中设置 pin。"),
    "hint_sim_puk": ("SIM locked (PUK needed): unlock it in a phone.", "SIM 卡已锁（需要 PUK 码）：请在手机中解锁。"),
    "hint_sim_failure": ("SIM not usable: reseat or replace the SIM.", "SIM 卡不可用：请重新插入或更换 SIM 卡。"),
    "hint_not_answering": ("Modem not answering: replug USB.", "模块无应答：请重新插拔 USB。"),
    "hint_no_network": ("No network: check antenna.", "无网络：请检查天线。"),
    "hint_denied": ("The network refused the SIM: check its plan with the operator.",
                    "网络拒绝注册：请向运营商确认 SIM 卡套餐。"),
    "hint_daily_quota": ("Daily quota reached, resets at 00:00.", "已达每日限额，00:00 重置。"),
    "hint_total_quota": ("Total quota reached: raise the limit or reset the counter.",
                         "已达总限额：请提高限额或重置计数。"),
    "hint_weak_signal": ("Weak signal: check antenna.", "信号弱：请检查天线。"),
    # the same, short, for the health banner's list of lines
    "short_disabled": ("disabled", "已停用"),
    "short_starting": ("starting", "启动中"),
    "short_no_sim": ("no SIM", "无 SIM 卡"),
    "short_sim_pin": ("SIM PIN", "需要 PIN 码"),
    "short_sim_puk": ("SIM PUK", "需要 PUK 码"),
    "short_sim_failure": ("SIM failure", "SIM 卡故障"),
    "short_not_answering": ("modem not answering", "模块无应答"),
    "short_no_network": ("no network", "无网络"),
    "short_denied": ("network refused the SIM", "网络拒绝"),
    "short_daily_quota": ("daily quota reached", "已达每日限额"),
    "short_total_quota": ("total quota reached", "已达总限额"),
    "short_weak_signal": ("weak signal", "信号弱"),
    # queue and messages
    "queue": ("Queue", "队列"),
    "unsent": ("Unsent", "待发送"),
    "sending": ("Sending", "发送中"),
    "sent_today": ("Sent today", "今日成功"),
    "failed_today": ("Failed today", "今日失败"),
    "received": ("Last received ({n})", "最近收到（{n} 条）"),
    "failures": ("Last failures ({n})", "最近失败（{n} 条）"),
    "calls": ("Last calls ({n})", "最近来电（{n} 个）"),
    "withheld": ("number withheld", "未显示号码"),
    "ring_one": ("rang once", "响铃 1 次"),
    "rings": ("rang {n} times", "响铃 {n} 次"),
    "no_entries": ("none yet", "暂无"),
    "hidden": ("(text hidden: log in to see it)", "（内容已隐藏：登录后可见）"),
    "in_doubt": ("may have been sent", "可能已发出"),
    "masked_note": ("Numbers are partly hidden and texts hidden until you log in.",
                    "登录前号码部分隐藏，短信内容隐藏。"),
    # login and actions
    "login": ("Log in", "登录"),
    "logout": ("Log out", "退出"),
    "username": ("User", "用户名"),
    "password": ("Password", "密码"),
    "logged_in_as": ("Logged in as {user}.", "已登录：{user}。"),
    "read_only_view": ("Read-only view", "只读视图"),
    "read_only": ("Read-only: no admin password is configured ([status] admin_password).",
                  "只读：未配置管理员密码（[status] admin_password）。"),
    "act_enable": ("Enable", "启用"),
    "act_disable": ("Disable", "停用"),
    "act_reset": ("Restart modem", "重启模块"),
    "act_reset_daily": ("Reset today's counter", "重置今日计数"),
    "confirm_disable": ("Disable line {line}?", "停用线路 {line}？"),
    "confirm_disable_what": ("It sends and receives nothing until it is enabled again here. The other lines take its"
                             " messages; those meant for this line only wait.",
                             "停用后它不再收发短信，直到在此页重新启用。其他线路会接手它的短信；只能由本线路发送的短信会等待。"),
    "confirm_disable_yes": ("Yes, disable {line}", "确定停用 {line}"),
    "confirm_reset": ("Restart the modem of {line}?", "重启线路 {line} 的模块？"),
    "confirm_reset_what": ("The line sends and receives nothing for up to {wait} while its modem restarts.",
                           "模块重启期间（最多 {wait}）该线路不收发短信。"),
    "confirm_reset_yes": ("Yes, restart the modem", "确定重启模块"),
    "confirm_reset_daily": ("Set today's counter of {line} back to 0?", "将线路 {line} 的今日计数清零？"),
    "confirm_reset_daily_what": ("The line may then send its whole daily limit again today; an operator may block a"
                                 " SIM that sends more than its plan allows.",
                                 "清零后该线路今天可以再发满每日限额；超出套餐的发送可能导致运营商封卡。"),
    "confirm_reset_daily_yes": ("Yes, set it to 0", "确定清零"),
    "confirm_no": ("No, back to the status page", "不，返回状态页"),
    "msg_login_failed": ("Wrong user or password.", "用户名或密码错误。"),
    "msg_throttled": ("Too many attempts: wait a few minutes.", "尝试次数过多：请几分钟后再试。"),
    "msg_logged_in": ("Logged in.", "已登录。"),
    "msg_logged_out": ("Logged out.", "已退出。"),
    "msg_enabled": ("{line}: enabled.", "{line}：已启用。"),
    "msg_disabled": ("{line}: disabled.", "{line}：已停用。"),
    "msg_reset": ("{line}: the modem restarted.", "{line}：模块已重启。"),
    "msg_reset_failed": ("{line}: the modem did not come back; see its tile.", "{line}：模块未恢复，请查看该线路。"),
    "msg_reset_daily": ("{line}: today's counter is 0 again.", "{line}：今日计数已清零。"),
    "msg_sim_unknown": ("{line}: its SIM is not known yet, nothing to reset.", "{line}：尚未识别 SIM 卡，无法重置。"),
    "msg_offline": ("{line}: the line is not running.", "{line}：线路未运行。"),
    # durations
    "dur_s": ("{n} s", "{n} 秒"),
    "dur_m": ("{n} min", "{n} 分钟"),
    "dur_h": ("{h} h {m} min", "{h} 小时 {m} 分"),
    "dur_d": ("{d} d {h} h", "{d} 天 {h} 小时"),
}


class Translator:
    """Words in one language: ``tr("key", name=value)``.  ``language`` is 'en'
    or 'zh'; anything else raises ValueError."""

    def __init__(self, language: str = "en") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
        self.language = language
        self._index = LANGUAGES.index(language)

    def __call__(self, key: str, **values: Any) -> str:
        """Return the text of ``key`` with ``values`` filled in; KeyError if unknown."""
        text = STRINGS[key][self._index] or STRINGS[key][0]
        return text.format(**values) if values else text

    def duration(self, seconds: float) -> str:
        """A span of time in the largest two units that matter: '42 s', '5 min', '3 h 12 min', '2 d 4 h'."""
        s = max(0, int(seconds))
        if s < 60:
            return self("dur_s", n=s)
        if s < 3600:
            return self("dur_m", n=s // 60)
        if s < 86400:
            return self("dur_h", h=s // 3600, m=s % 3600 // 60)
        return self("dur_d", d=s // 86400, h=s % 86400 // 3600)
