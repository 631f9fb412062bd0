/* The help the option table gives, in three forms: the terminal's --help
 * (wrapped to 80 columns), the Markdown reference (docs/reference.md) and
 * man pages.  All three walk the table the same way, section by section,
 * so what one says the others say; a test compares the committed reference
 * with this program's output. */
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/options.h"
#include "hessrmt/version.h"
#include "options_table.h"

enum { HELP_WIDTH = 79, HELP_INDENT = 28 };

static const char *program_line =
    "exact Hessian eigenvalue spectra and random matrix theory on distributed "
    "memory";

/* ---- walking the table -------------------------------------------------- */

typedef struct {
  void (*section)(void *ctx, const char *name);
  void (*option)(void *ctx, const opt_entry_t *e);
} help_writer_t;

/* Each section once, in the order of its first option for this command, so
 * that options added to a section later in the table still group with it. */
static void walk_command(const command_entry_t *c, const help_writer_t *w,
                         void *ctx) {
  int n;
  const opt_entry_t *table = hr_option_table(&n);
  for (int i = 0; i < n; i++) {
    if (!(table[i].commands & c->command)) continue;
    int seen = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = (table[j].commands & c->command) &&
             strcmp(table[j].section, table[i].section) == 0;
    if (seen) continue;
    w->section(ctx, table[i].section);
    for (int j = i; j < n; j++)
      if ((table[j].commands & c->command) &&
          strcmp(table[j].section, table[i].section) == 0)
        w->option(ctx, &table[j]);
  }
}

static const command_entry_t *find_command(const char *name) {
  int n;
  const command_entry_t *commands = hr_command_table(&n);
  for (int i = 0; i < n; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

/* The words after an option's help: its default and its values. */
static void option_tail(const opt_entry_t *e, char *buf, size_t len) {
  int has_default = e->default_text && e->default_text[0];
  snprintf(buf, len, "%s%s%s%s%s%s", has_default || e->choices ? "[" : "",
           has_default ? "default: " : "", has_default ? e->default_text : "",
           has_default && e->choices ? "; " : "",
           e->choices ? "one of " : "", e->choices ? e->choices : "");
  if (has_default || e->choices) strncat(buf, "]", len - strlen(buf) - 1);
}

/* ---- the terminal ------------------------------------------------------- */

/* Prints text from column col, breaking lines before HELP_WIDTH and
 * indenting continuation lines; returns the column it ends in. */
static int print_wrapped(FILE *out, const char *text, int col, int indent) {
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    int n = (int)strcspn(p, " ");
    if (n == 0) break;
    if (col > indent && col + 1 + n > HELP_WIDTH) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', out);
      col++;
    }
    fprintf(out, "%.*s", n, p);
    col += n;
    p += n;
  }
  return col;
}

static void text_section(void *ctx, const char *name) {
  fprintf(ctx, "\n%s:\n", name);
}

static void text_option(void *ctx, const opt_entry_t *e) {
  FILE *out = ctx;
  char head[64], tail[256];
  snprintf(head, sizeof head, "%c%c%c --%s%s%s", e->short_name ? '-' : ' ',
           e->short_name ? e->short_name : ' ', e->short_name ? ',' : ' ',
           e->name, e->metavar ? " " : "", e->metavar ? e->metavar : "");
  fprintf(out, " %-*s", HELP_INDENT - 1, head);
  if ((int)strlen(head) > HELP_INDENT - 2)
    fprintf(out, "\n%*s", HELP_INDENT, "");
  int col = print_wrapped(out, e->help, HELP_INDENT, HELP_INDENT);
  option_tail(e, tail, sizeof tail);
  /* "[default: X]" reads best unbroken: on the next line if need be. */
  int len = (int)strlen(tail);
  if (len && col + 1 + len > HELP_WIDTH && HELP_INDENT + len <= HELP_WIDTH) {
    fprintf(out, "\n%*s", HELP_INDENT, "");
    col = HELP_INDENT;
  }
  print_wrapped(out, tail, col, HELP_INDENT);
  fputc('\n', out);
}

void hr_help_command(const command_entry_t *c, FILE *out) {
  fprintf(out, "Usage: [mpirun -n P] hessrmt %s [options]%s%s\n\n", c->name,
          c->positional ? " " : "", c->positional ? c->positional : "");
  print_wrapped(out, c->summary, 0, 0);
  fputc('\n', out);
  help_writer_t w = {text_section, text_option};
  walk_command(c, &w, out);
  fprintf(out, "\n  -h, --help                 this text\n");
}

void hr_help_program(FILE *out) {
  fprintf(out, "hessrmt %s - %s\n\n"
          "Usage: [mpirun -n P] hessrmt <command> [options]\n"
          "       hessrmt <command> --help\n"
          "       hessrmt help [--markdown | --man] [<command>]\n\n"
          "Commands:\n", HR_VERSION_STRING, program_line);
  int n;
  const command_entry_t *commands = hr_command_table(&n);
  for (int c = 0; c < n; c++)
    fprintf(out, "  %-10s %s\n", commands[c].name, commands[c].brief);
  fprintf(out,
          "\nGlobal options:\n  -h, --help     this text\n"
          "  -V, --version  version, build and library information\n");
}

/* ---- Markdown ----------------------------------------------------------- */

/* Characters Markdown would read as markup (a '<l>' as an HTML tag, a
 * 'P*Q' as emphasis, '|' as a table cell) are escaped. */
static void md_text(FILE *out, const char *text) {
  for (const char *p = text; *p; p++) {
    if (strchr("\\`*<>[]|", *p)) fputc('\\', out);
    fputc(*p, out);
  }
}

static void md_section(void *ctx, const char *name) {
  fprintf(ctx, "\n### %s\n\n", name);
}

static void md_option(void *ctx, const opt_entry_t *e) {
  FILE *out = ctx;
  fprintf(out, "- ");
  if (e->short_name) fprintf(out, "`-%c`, ", e->short_name);
  fprintf(out, "`--%s%s%s`: ", e->name, e->metavar ? " " : "",
          e->metavar ? e->metavar : "");
  md_text(out, e->help);
  if (e->default_text && e->default_text[0])
    fprintf(out, ". Default: `%s`", e->default_text);
  if (e->choices) {
    fprintf(out, ". One of: ");
    for (const char *p = e->choices; *p;) {
      int n = (int)strcspn(p, "|");
      fprintf(out, "`%.*s`%s", n, p, p[n] ? ", " : "");
      p += n + (p[n] ? 1 : 0);
    }
  }
  fprintf(out, "\n");
}

static void md_command(FILE *out, const command_entry_t *c) {
  fprintf(out, "\n## hessrmt %s\n\n```\n[mpirun -n P] hessrmt %s [options]%s%s"
          "\n```\n\n", c->name, c->name, c->positional ? " " : "",
          c->positional ? c->positional : "");
  md_text(out, c->summary);
  fprintf(out, "\n");
  help_writer_t w = {md_section, md_option};
  walk_command(c, &w, out);
  fprintf(out, "\nAlso `-h`, `--help`: this page in the terminal; "
          "`man hessrmt-%s`: as a manual page.\n", c->name);
}

static void md_reference(FILE *out) {
  fprintf(out,
          "# Command reference\n\n"
          "<!-- Generated from the option table in src/core/options.c by "
          "`hessrmt help --markdown > docs/reference.md`; do not edit by "
          "hand (the test docs_reference fails when the two differ). -->\n\n"
          "hessrmt: %s.\n\n"
          "```\n[mpirun -n P] hessrmt <command> [options]\n"
          "hessrmt <command> --help\nhessrmt help [--markdown | --man] "
          "[<command>]\nhessrmt --version\n```\n\n"
          "`--help` and usage errors need no `mpirun`. Every option below is "
          "recorded in the provenance of the files a run writes.\n\n"
          "| command | what it does |\n| --- | --- |\n", program_line);
  int n;
  const command_entry_t *commands = hr_command_table(&n);
  for (int c = 0; c < n; c++)
    fprintf(out, "| [`%s`](#hessrmt-%s) | %s |\n", commands[c].name,
            commands[c].name, commands[c].brief);
  for (int c = 0; c < n; c++) md_command(out, &commands[c]);
}

/* ---- man pages ---------------------------------------------------------- */

/* roff: a backslash is \e, a hyphen \- (so that options copy as typed),
 * and a line may not start with a control character. */
static void roff_text(FILE *out, const char *text) {
  if (text[0] == '.' || text[0] == '\'') fputs("\\&", out);
  for (const char *p = text; *p; p++) {
    if (*p == '\\') fputs("\\e", out);
    else if (*p == '-') fputs("\\-", out);
    else fputc(*p, out);
  }
}

static void man_section(void *ctx, const char *name) {
  fprintf(ctx, ".SS %s\n", name);
}

static void man_option(void *ctx, const opt_entry_t *e) {
  FILE *out = ctx;
  char tail[256];
  fprintf(out, ".TP\n");
  if (e->short_name) fprintf(out, "\\fB\\-%c\\fR, ", e->short_name);
  fprintf(out, "\\fB\\-\\-");
  roff_text(out, e->name);
  fprintf(out, "\\fR");
  if (e->metavar) {
    fprintf(out, " \\fI");
    roff_text(out, e->metavar);
    fprintf(out, "\\fR");
  }
  fprintf(out, "\n");
  roff_text(out, e->help);
  option_tail(e, tail, sizeof tail);
  if (tail[0]) {
    fprintf(out, " ");
    roff_text(out, tail);
  }
  fprintf(out, "\n");
}

static void man_header(FILE *out, const char *page, const char *name,
                       const char *what) {
  fprintf(out, ".\\\" Generated by 'hessrmt help --man' from the option "
          "table; do not edit.\n.TH %s 1 \"\" \"hessrmt %s\" \"hessrmt "
          "manual\"\n.SH NAME\n%s \\- ", page, HR_VERSION_STRING, name);
  roff_text(out, what);
  fprintf(out, "\n");
}

static void man_command(FILE *out, const command_entry_t *c) {
  char page[64], name[64];
  snprintf(name, sizeof name, "hessrmt-%s", c->name);
  snprintf(page, sizeof page, "HESSRMT-%s", c->name);
  for (char *p = page; *p; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
  man_header(out, page, name, c->brief);
  fprintf(out, ".SH SYNOPSIS\n[\\fBmpirun \\-n\\fR \\fIP\\fR] \\fBhessrmt "
          "%s\\fR [\\fIoptions\\fR]%s", c->name, c->positional ? " \\fI" : "");
  if (c->positional) {
    roff_text(out, c->positional);
    fprintf(out, "\\fR");
  }
  fprintf(out, "\n.SH DESCRIPTION\n");
  roff_text(out, c->summary);
  fprintf(out, "\n.SH OPTIONS\n");
  help_writer_t w = {man_section, man_option};
  walk_command(c, &w, out);
  fprintf(out, ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nthis text in the "
          "terminal\n.SH SEE ALSO\n\\fBhessrmt\\fR(1)\n");
}

/* Kept beside error.h's codes: what each exit status means to a user. */
static const char *const exit_statuses[][2] = {
    {"0", "success"},
    {"2", "bad command line (unknown option, bad value)"},
    {"3", "bad input: data, sizes, grids, a resume that does not match"},
    {"4", "file error: missing, unreadable or unwritable, disk full"},
    {"5", "not enough memory (the estimate is above --max-mem, or an "
          "allocation failed)"},
    {"6", "eigensolver failure"},
    {"7", "an MPI call failed"},
    {"8", "internal error (a bug in hessrmt)"},
    {"9", "an output is being written by another live run"},
    {"75", "stopped by a signal at a safe point; finished work is kept: run "
           "the same command with --resume"},
};

static void man_program(FILE *out) {
  man_header(out, "HESSRMT", "hessrmt", program_line);
  fprintf(out, ".SH SYNOPSIS\n[\\fBmpirun \\-n\\fR \\fIP\\fR] \\fBhessrmt\\fR "
          "\\fIcommand\\fR [\\fIoptions\\fR]\n.br\n\\fBhessrmt\\fR "
          "\\fIcommand\\fR \\fB\\-\\-help\\fR\n.br\n\\fBhessrmt help\\fR "
          "[\\fB\\-\\-markdown\\fR | \\fB\\-\\-man\\fR] [\\fIcommand\\fR]\n"
          ".SH DESCRIPTION\nhessrmt computes exact, full eigenvalue spectra "
          "of neural-network loss Hessians on distributed memory (MPI, "
          "ScaLAPACK, ELPA, parallel HDF5) and tests them against random "
          "matrix theory.  Each command has its own page.\n.SH COMMANDS\n");
  int n;
  const command_entry_t *commands = hr_command_table(&n);
  for (int c = 0; c < n; c++) {
    fprintf(out, ".TP\n\\fB%s\\fR\n", commands[c].name);
    roff_text(out, commands[c].brief);
    fprintf(out, "; see \\fBhessrmt\\-%s\\fR(1)\n", commands[c].name);
  }
  fprintf(out, ".SH OPTIONS\n.TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nthe "
          "commands\n.TP\n\\fB\\-V\\fR, \\fB\\-\\-version\\fR\nversion, build, "
          "libraries and the BLAS kernels a run would use\n.SH EXIT STATUS\n"
          "Every rank exits with the same status.\n");
  for (size_t i = 0; i < sizeof exit_statuses / sizeof exit_statuses[0]; i++) {
    fprintf(out, ".TP\n%s\n", exit_statuses[i][0]);
    roff_text(out, exit_statuses[i][1]);
    fprintf(out, "\n");
  }
  fprintf(out, ".SH SEE ALSO\n");
  for (int c = 0; c < n; c++)
    fprintf(out, "\\fBhessrmt\\-%s\\fR(1)%s\n", commands[c].name,
            c + 1 < n ? "," : "");
}

/* ---- 'hessrmt help' ----------------------------------------------------- */

static int help_usage(const char *detail) {
  return hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "%s (usage: hessrmt help [--markdown | --man | "
                      "--commands] [<command>])", detail);
}

static void list_commands(FILE *out) {
  int n;
  const command_entry_t *commands = hr_command_table(&n);
  for (int c = 0; c < n; c++) fprintf(out, "%s\n", commands[c].name);
}

int hr_help_main(int argc, char **argv, FILE *out, int print) {
  const char *form = "text", *name = NULL;
  for (int i = 0; i < argc; i++) {
    if (argv[i][0] == '-') {
      if (strcmp(argv[i], "--markdown") && strcmp(argv[i], "--man") &&
          strcmp(argv[i], "--commands"))
        return help_usage("unknown option of 'hessrmt help'");
      form = argv[i] + 2;
    } else if (name) {
      return help_usage("'hessrmt help' takes one command");
    } else {
      name = argv[i];
    }
  }
  const command_entry_t *c = name ? find_command(name) : NULL;
  if (name && !c) return help_usage("unknown command");
  if (!print) return HR_PARSE_EXIT_OK;
  if (!strcmp(form, "commands")) list_commands(out);
  else if (!strcmp(form, "markdown") && c) md_command(out, c);
  else if (!strcmp(form, "markdown")) md_reference(out);
  else if (!strcmp(form, "man") && c) man_command(out, c);
  else if (!strcmp(form, "man")) man_program(out);
  else if (c) hr_help_command(c, out);
  else hr_help_program(out);
  return HR_PARSE_EXIT_OK;
}
