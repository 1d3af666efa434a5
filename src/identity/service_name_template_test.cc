#include "src/identity/service_name_template.h"

#include "gtest/gtest.h"

namespace loupe::identity {
namespace {

PodMetadata Pod() {
  PodMetadata pod;
  pod.namespace_name = "shop";
  pod.pod_name = "cart-7d9f-abcde";
  pod.container_name = "server";
  pod.labels = {{"app.kubernetes.io/name", "cart"},
                {"app.kubernetes.io/component", "api"},
                {"app", "cart-app"}};
  pod.annotations = {{"team", "payments"}};
  return pod;
}

std::string Render(const std::string& text, const PodMetadata& pod = Pod()) {
  auto t = ServiceNameTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  if (!t.ok()) return "<parse error>";
  auto out = t->Execute(pod);
  EXPECT_TRUE(out.ok()) << text << ": " << out.status();
  return out.ok() ? *out : "<exec error>";
}

// The example of Beyla's documentation for attributes.kubernetes.service_name_template.
TEST(ServiceNameTemplateTest, BeylasDocumentedExample) {
  const std::string beyla =
      R"({{- .Meta.Namespace }}/{{ index .Meta.Labels "app.kubernetes.io/name" }}/)"
      R"({{ index .Meta.Labels "app.kubernetes.io/component" -}})"
      R"({{ if .ContainerName }}-{{ .ContainerName }}{{ end -}})";
  EXPECT_EQ(Render(beyla), "shop/cart/api-server");
  PodMetadata no_container = Pod();
  no_container.container_name.clear();
  EXPECT_EQ(Render(beyla, no_container), "shop/cart/api");
}

TEST(ServiceNameTemplateTest, FieldsFunctionsAndBranches) {
  EXPECT_EQ(Render("{{ .Meta.Name }}"), "cart-7d9f-abcde");
  EXPECT_EQ(Render("{{ .Meta.Kind }}:{{ .Meta.Labels.app }}"), "Pod:cart-app");
  EXPECT_EQ(Render("{{ .Meta.Labels.missing }}"), "<no value>");  // as Go prints it
  EXPECT_EQ(Render(R"(x{{ index .Meta.Labels "missing" }}y)"), "xy");
  EXPECT_EQ(Render(R"({{ index .Meta.Annotations "team" }})"), "payments");
  EXPECT_EQ(Render(R"({{ if eq .Meta.Namespace "shop" }}yes{{ else }}no{{ end }})"), "yes");
  EXPECT_EQ(
      Render(
          R"({{ if eq .Meta.Namespace "x" "y" }}a{{ else if .ContainerName }}b{{ else }}c{{ end }})"),
      "b");
  EXPECT_EQ(Render(R"({{ if and .ContainerName (not .Meta.Labels.missing) }}ok{{ end }})"), "ok");
  EXPECT_EQ(Render(R"({{ or .Meta.Labels.missing "fallback" }})"), "fallback");
  EXPECT_EQ(Render(R"({{ with index .Meta.Labels "app" }}{{ . }}{{ else }}none{{ end }})"),
            "cart-app");
  EXPECT_EQ(Render(R"({{ with index .Meta.Labels "nope" }}{{ . }}{{ else }}none{{ end }})"),
            "none");
  EXPECT_EQ(Render(R"({{ with .Meta }}{{ .Namespace }}{{ end }})"), "shop");
  // The piped value is the last argument; a missing one prints as Go's fmt does.
  EXPECT_EQ(Render(R"({{ .Meta.Name | printf "%s-%d%%" }})"), "cart-7d9f-abcde-%!d(MISSING)%");
  EXPECT_EQ(Render(R"({{ printf "%s.%s" .Meta.Name .Meta.Namespace }})"), "cart-7d9f-abcde.shop");
  EXPECT_EQ(Render(R"({{ .Meta.Namespace | printf "%q" }})"), "\"shop\"");
  EXPECT_EQ(Render(R"({{ len .Meta.Labels }} {{ len "abc" }} {{ print 1 2 "x" }})"), "3 3 1 2x");
  EXPECT_EQ(Render(R"({{ ne .Meta.Name `cart` }})"), "true");
  EXPECT_EQ(Render("{{/* a comment */}}{{ .Meta.Namespace }}"), "shop");
  // Only the first line counts, trimmed.
  EXPECT_EQ(Render("  {{ .Meta.Namespace }}  \nsecond line"), "shop");
}

TEST(ServiceNameTemplateTest, AnnotationKeysTheInformerMustKeep) {
  auto t = ServiceNameTemplate::Parse(
      R"({{ index .Meta.Annotations "team" }}{{ .Meta.Annotations.owner }}{{ index .Meta.Labels "x" }})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->annotation_keys(), (std::vector<std::string>{"owner", "team"}));
}

TEST(ServiceNameTemplateTest, BadTemplatesAreParseErrors) {
  for (const char* bad : {
           "{{ .Meta.Name",                      // unclosed action
           "{{ if .ContainerName }}x",           // missing end
           "{{ end }}",                          // end without if
           "{{ else }}",                         // else without if
           "{{ .Meta.Pod.NodeName }}",           // unsupported field
           "{{ .Nope }}",                        // unknown field
           "{{ upper .Meta.Name }}",             // unknown function
           "{{ range .Meta.Labels }}{{ end }}",  // unsupported action
           "{{ $x := .Meta.Name }}",             // variables
           "{{ \"unterminated }}",               // string
           "{{ .Meta.Name .Meta.Namespace }}",   // argument to a non-function
           "{{ (index .Meta.Labels \"a\" }}",    // parenthesis
           "{{ }}",                              // empty action
           "{{ if }}x{{ end }}",                 // empty condition
       }) {
    auto t = ServiceNameTemplate::Parse(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_NE(t.status().message().find("offset"), std::string_view::npos) << bad;
    }
  }
}

// Deep nesting is refused instead of exhausting the stack.
TEST(ServiceNameTemplateTest, DeepNestingIsAParseError) {
  const std::string parens =
      "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_FALSE(ServiceNameTemplate::Parse(parens).ok());
  std::string ifs;
  for (int i = 0; i < 100000; ++i) ifs += "{{ if 1 }}";
  for (int i = 0; i < 100000; ++i) ifs += "{{ end }}";
  EXPECT_FALSE(ServiceNameTemplate::Parse(ifs).ok());
  std::string ok = "{{ " + std::string(10, '(') + "1" + std::string(10, ')') + " }}";
  for (int i = 0; i < 10; ++i) ok += "{{ if 1 }}";
  for (int i = 0; i < 10; ++i) ok += "{{ end }}";
  EXPECT_TRUE(ServiceNameTemplate::Parse(ok).ok());
}

TEST(ServiceNameTemplateTest, RuntimeErrorsAreErrors) {
  for (const char* bad : {
           R"({{ index .Meta.Name "x" }})",                // index of a string
           R"({{ eq .Meta.Name 1 }})",                     // incompatible comparison
           R"({{ printf "%x" .Meta.Name }})",              // unsupported verb
           R"({{ with .Meta.Name }}{{ .Foo }}{{ end }})",  // field of a string
           R"({{ .Meta }})",                               // a struct cannot be printed
       }) {
    auto t = ServiceNameTemplate::Parse(bad);
    ASSERT_TRUE(t.ok()) << bad << ": " << t.status();
    EXPECT_FALSE(t->Execute(Pod()).ok()) << bad;
  }
}

}  // namespace
}  // namespace loupe::identity
