#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

namespace {

/// Counts the test cases a run executes. doctest exits 0 when its filters (-ts, -tc, ...) match
/// nothing, so a renamed suite would silently empty its CTest entry: main turns that into a
/// failure. Queries (--help, --count, --list-test-cases, ...) never start a run and are not counted.
struct RunCounter : doctest::IReporter {
  static inline bool started = false;  ///< a run (not a query) began
  static inline int executed = 0;      ///< test cases entered in that run

  explicit RunCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override { started = true; }
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++executed; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("ssl_run_counter", 1, RunCounter);

}  // namespace

int main(int argc, char** argv) {
  // 2 intra-op threads (the machine's cores) unless SSL_TEST_THREADS says otherwise: every CTest
  // entry sets it to 1, and scripts/test.sh runs two side by side (ssl_test_environment, the
  // top-level CMakeLists.txt).
  int threads = 2;
  if (const char* env = std::getenv("SSL_TEST_THREADS"); env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024) {
      std::fprintf(stderr, "SSL_TEST_THREADS: expected a thread count from 1 to 1024, got '%s'\n", env);
      return 2;
    }
    threads = int(n);
  }
  at::set_num_threads(threads);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  // SSL_TEST_EXCLUDE: test cases to leave out of every run (doctest's -tce patterns, comma-separated),
  // for a lane where a case's own timing does not hold (scripts/sanitize.sh).
  if (const char* env = std::getenv("SSL_TEST_EXCLUDE"); env && *env) ctx.addFilter("test-case-exclude", env);
  const int rc = ctx.run();
  if (!RunCounter::started) return rc;  // a query: --help, --version, --count, --list-*, --no-run
  if (RunCounter::executed == 0) {
    std::fprintf(stderr,
                 "ssl_tests: no test case matched the filters (-ts / -tc / -sf ...): expected at least one test "
                 "case to run, got 0; a renamed or misspelt suite or case would otherwise pass silently\n");
    return EXIT_FAILURE;
  }
  return rc;
}
