"""Vendor profiles of the simulated modem: identity strings and quirks as data.

Every quirk is a field, so a test can combine them on top of any profile::

    from dataclasses import replace
    odd = replace(PROFILES["generic"], prompt="\\r\\n>", sim_busy_at_boot=3)

The byte shapes come from real captures (see testdata/at_transcripts.md).
Templates may use ``{rssi}`` (0..31/99), ``{cpin}`` (READY / SIM PIN / ...)
and ``{operator}``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicUrc:
    """An unsolicited line the modem repeats every ``period`` seconds while powered.

    ``eol`` is the line end after the text (Huawei ends some with ``\\r\\r\\n``).
    Silenced by ``AT^CURC=0`` when ``curc`` is True.
    """

    text: str
    period: float
    eol: str = "\r\n"
    curc: bool = True


@dataclass(frozen=True)
class Profile:
    """What one modem family says and how it frames it.

    Identity strings are answered verbatim (leading spaces included).
    ``iccid_command`` names the one ICCID command this family answers (read
    and exec forms) with ``iccid_format``; the others get ``unknown_final``.  ``vendor_commands`` are extra commands answered
    with a bare OK (e.g. ``+CIURC`` on SIMCom).
    """

    name: str
    manufacturer: str
    model: str
    revision: str
    tac: str  # IMEI type allocation code, 8 digits
    cgmr_prefix: str = ""  # SIM7600 answers AT+CGMR with '+CGMR: <rev>'
    ati: tuple[str, ...] = ("Manufacturer: {manufacturer}", "Model: {model}", "Revision: {revision}", "IMEI: {imei}")
    iccid_command: str | None = "+CCID"  # '+CCID' | '+ICCID' | '+CICCID' | '^ICCID' | '+QCCID' | None
    iccid_format: str = "{iccid}"  # {iccid}, or {iccid_swapped} (Huawei's nibble-swapped, F-padded)
    vendor_commands: frozenset[str] = frozenset()
    unknown_final: str = "ERROR"
    # Boot banner lines: the first always, the second only when the SIM is ready.
    banner: tuple[str, ...] = ("RDY", "+CPIN: {cpin}")
    banner_sim: tuple[str, ...] = ()
    prompt: str = "\r\n> "
    cpin_final_ok: bool = True  # old Wavecom: '+CPIN: READY' and no OK
    creg_style: str = "quoted"  # 'quoted' "2AF6","0B88E361" | 'quoted_act' +,<AcT> | 'hex' 2AF6,B88E361
    act: int = 7  # access technology: 0 GSM, 2 UTRAN, 7 E-UTRAN
    has_cereg: bool = True
    cmgr_header: str = "{stat},,{length}"
    cmgl_header: str = "{index},{stat},,{length}"
    first_index: int = 1  # Huawei numbers SIM slots from 0
    capacity: int = 30
    sim_busy_at_boot: int = 0  # first K AT+CSCA/+CPMS/+CMGF after boot: +CME ERROR: 14
    urcs_before_prompt: tuple[str, ...] = ()
    urcs_after_pdu: tuple[str, ...] = ()  # between the PDU's Ctrl-Z and '+CMGS:'
    urc_eol: str = "\r\n"  # line end of the two lists above
    periodic_urcs: tuple[PeriodicUrc, ...] = ()
    clip_tail: str = ",,,,0"  # after '+CLIP: "<num>",145'; Wavecom sends nothing more
    ussd_packed: bool = False  # Huawei ^USSDMODE=1 (default): USSD strings as packed GSM-7 hex
    cpms_test: str = '+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")'
    cnmi_test: str = "+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"
    cnmi_default: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    cfun_query: str = "+CFUN: {cfun}"
    report_mem: str = "SM"  # memory named in +CDSI
    cmee_default: int = 0
    call_end: str | None = None  # line sent when a caller gives up before ATH


_SIMCOM_TAC = "86147103"

PROFILES: dict[str, Profile] = {
    "generic": Profile(
        name="generic",
        manufacturer="Generic",
        model="GSM MODEM",
        revision="1.0.0",
        tac="35000001",
        act=0,
        has_cereg=False,
    ),
    "simcom": Profile(
        name="simcom",
        manufacturer="SIMCOM INCORPORATED",
        model="SIMCOM_SIM7600E-H",
        revision="LE20B04SIM7600M22",
        tac=_SIMCOM_TAC,
        cgmr_prefix="+CGMR: ",
        iccid_command="+CICCID",
        iccid_format="+ICCID: {iccid}",
        vendor_commands=frozenset({"+CIURC", "+CNMP", "+CSCLK"}),
        banner=("RDY", "+CPIN: {cpin}"),
        banner_sim=("SMS DONE", "PB DONE"),
        cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)",
    ),
    "sim800": Profile(
        name="sim800",
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800L",
        revision="Revision:1418B04SIM800L24",
        tac="86262803",
        ati=("SIM800 R14.18",),
        iccid_command="+CCID",
        vendor_commands=frozenset({"+CIURC", "+CSCLK"}),
        banner=("RDY", "+CFUN: 1", "+CPIN: {cpin}"),
        banner_sim=("Call Ready", "SMS Ready"),
        act=0,
        has_cereg=False,
    ),
    "huawei": Profile(
        name="huawei",
        manufacturer="huawei",
        model="E1752",
        revision="11.126.13.00.00",
        tac="35351903",
        ati=("Manufacturer: huawei", "Model: E1752", "Revision: {revision}", "IMEI: {imei}", "+GCAP: +CGSM,+DS,+ES"),
        iccid_command="^ICCID",
        iccid_format="^ICCID: {iccid_swapped}",
        vendor_commands=frozenset({"^CURC", "^USSDMODE", "^SYSCFG", "^PORTSEL"}),
        unknown_final="COMMAND NOT SUPPORT",
        banner=(),
        banner_sim=("^SIMST:1",),
        creg_style="hex",
        act=2,
        has_cereg=False,
        first_index=0,
        capacity=50,
        urcs_after_pdu=("^RSSI:{rssi}",),
        periodic_urcs=(
            PeriodicUrc("^RSSI:{rssi}", 5.0),
            PeriodicUrc("^BOOT:35323129,0,0,0,26", 3.0, eol="\r\r\n"),
        ),
        ussd_packed=True,
        cpms_test='+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")',
    ),
    "quectel": Profile(
        name="quectel",
        manufacturer="Quectel",
        model="EC25",
        revision="EC25EFAR06A06M4G",
        tac="86753503",
        ati=("Quectel", "EC25", "Revision: {revision}"),
        iccid_command="+QCCID",
        iccid_format="+QCCID: {iccid}",
        vendor_commands=frozenset({"+QURCCFG", "+QCFG", "+QINDCFG"}),
        banner=("RDY", "+CPIN: {cpin}"),
        banner_sim=("+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
        creg_style="quoted_act",
        capacity=50,
        cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    ),
    "zte": Profile(
        name="zte",
        manufacturer="ZTE INCORPORATED",
        model="MF627",
        revision="BD_P673A2V1.0.0B09",
        tac="35765401",
        banner=(),
        banner_sim=("+ZUSIMR:2",),
        iccid_command="+ICCID",
        iccid_format="+ICCID: {iccid}",
        act=2,
        has_cereg=False,
        cmgr_header=",,{length}",
        urcs_before_prompt=('+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"', '+ZPASR: "UMTS"'),
        urcs_after_pdu=('+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"', '+ZPASR: "UMTS"'),
        cfun_query="+CFUN: (0-1,4-7),(0-1)",
    ),
    "wavecom": Profile(
        name="wavecom",
        manufacturer=" WAVECOM MODEM",
        model=" MULTIBAND  900E  1800 ",
        revision="641b09gg.Q2406B 1339080 041604 16:04",
        tac="33012345",
        ati=("WAVECOM MODEM",),
        iccid_format='+CCID: "{iccid}"',
        banner=(),
        banner_sim=(),
        cpin_final_ok=False,
        act=0,
        has_cereg=False,
        clip_tail="",
        cpms_test='+CPMS: (("SM","BM","SR"),("SM"))',
        cnmi_test="+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)",
    ),
}


def get(name_or_profile: str | Profile) -> Profile:
    """Return the named profile (or the Profile given). Raise KeyError naming the known ones."""
    if isinstance(name_or_profile, Profile):
        return name_or_profile
    try:
        return PROFILES[name_or_profile]
    except KeyError:
        raise KeyError(f"unknown modem profile {name_or_profile!r}; known: {', '.join(sorted(PROFILES))}") from None
