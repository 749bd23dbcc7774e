/* selgw: the report's Chinese for what gateways write in English.
 *
 * A record's text is evidence: it stays as the gateway wrote it, byte for byte, and the
 * bundle carries it so. The zh-CN report shows a translation of the forms the gateway
 * writes (a start, a stop, the clock's state, a gap's cause, a failed poll's status), and
 * the text as written when it does not know the form (an older or newer gateway's). */
#ifndef SELGW_EVIDENCE_REPORT_ZH_H
#define SELGW_EVIDENCE_REPORT_ZH_H

/* The zh-CN form of a START, STOP, CLOCK or GAP record's text, or of a START's note about
 * its seal ("no seal before it", "continues from seal ..."): a new string (free it), or
 * NULL when the form is unknown (or out of memory): then show `en`. */
char *selgw_report_zh_text(const char *en);

/* The zh-CN name of a poll's status token (selgw_err_token: "timeout", "connect_failed",
 * ...), also as "TOKEN (Modbus exception N)": a new string (free it), or NULL when
 * unknown. */
char *selgw_report_zh_status(const char *token);

#endif
