/* The options and commands tables as the parser (options.c) and the help
 * writers (options_help.c) both read them: one table, so that --help, the
 * reference page and the man pages say what the parser does.  Private to
 * the front end in src/core. */
#ifndef HESSRMT_OPTIONS_TABLE_H
#define HESSRMT_OPTIONS_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "hessrmt/options.h"

typedef enum {
  OPT_FLAG,    /* no argument; sets an int to 1 */
  OPT_FLAG_OFF,/* no argument; sets an int to 0 (--no-bias) */
  OPT_INT,     /* int64, range-checked */
  OPT_AUTOINT, /* int64, or the word of default_text ("auto", "all") = 0 */
  OPT_DOUBLE,  /* finite double, range-checked */
  OPT_AUTODOUBLE, /* a double, or the word of default_text ("auto") = -1 */
  OPT_STRING,
  OPT_CHOICE,  /* one word of a '|' list; stored as its index (int) */
  OPT_GRID,    /* "PxQ" or "auto" */
  OPT_BYTES,   /* "auto" or a size with an optional K/M/G/T suffix */
} opt_type_t;

typedef struct {
  const char *name;
  char short_name;
  opt_type_t type;
  size_t offset;
  const char *default_text;
  const char *choices;
  double min, max;
  const char *metavar;
  const char *section;
  const char *help;
  unsigned commands;
  int identity; /* defines the result: must match for --resume */
} opt_entry_t;

typedef struct {
  const char *name;
  hr_command_t command;
  const char *brief;    /* one line for the program's --help */
  const char *summary;  /* a paragraph for the command's --help */
  const char *positional;  /* metavar of positional arguments, NULL if none */
  int min_inputs, max_inputs;
} command_entry_t;

/* The tables themselves (options.c); *count gets their length. */
const opt_entry_t *hr_option_table(int *count);
const command_entry_t *hr_command_table(int *count);

/* The help writers (options_help.c). */
void hr_help_program(FILE *out);
void hr_help_command(const command_entry_t *c, FILE *out);
/* 'hessrmt help [--markdown | --man | --commands] [COMMAND]': argv[0] is
 * the word after 'help'.  Returns HR_PARSE_EXIT_OK or a usage error. */
int hr_help_main(int argc, char **argv, FILE *out, int print);

#endif
