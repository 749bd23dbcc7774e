/* placeholder: being written */
typedef int selgw_placeholder_journal;
