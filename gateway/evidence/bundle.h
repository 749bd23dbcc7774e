/* selgw (internal): what the exporter and the verifier of evidence bundles share. The
 * format is specified in docs/EVIDENCE.md. */
#ifndef SELGW_EVIDENCE_BUNDLE_H
#define SELGW_EVIDENCE_BUNDLE_H

#define SELGW_BUNDLE_MAGIC "selgw-evidence 1"

/* A CLOCK record whose text begins with this says the gateway's clock stepped back: times
 * after it may be earlier than times before it. */
#define SELGW_CLOCK_STEP_BACK "stepped back"

/* A START record whose text begins with this is a reload of the config in the same run,
 * not a new start of the gateway. */
#define SELGW_RELOAD_TEXT "configuration reloaded"

#endif
