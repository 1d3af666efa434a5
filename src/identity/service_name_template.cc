#include "src/identity/service_name_template.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/strings.h"

namespace loupe::identity {

namespace {

using Labels = std::map<std::string, std::string>;

// --- values --------------------------------------------------------------------------------------

enum class Kind : uint8_t { kNil, kString, kBool, kInt, kMap, kRoot, kMeta };

struct Value {
  Kind kind = Kind::kNil;
  std::string s;
  bool b = false;
  int64_t i = 0;
  const Labels* map = nullptr;

  static Value String(std::string v) { return {Kind::kString, std::move(v)}; }
  static Value Bool(bool v) {
    Value out{Kind::kBool};
    out.b = v;
    return out;
  }
  static Value Int(int64_t v) {
    Value out{Kind::kInt};
    out.i = v;
    return out;
  }
  static Value Map(const Labels* m) {
    Value out{Kind::kMap};
    out.map = m;
    return out;
  }
};

bool Truth(const Value& v) {
  switch (v.kind) {
    case Kind::kNil:
      return false;
    case Kind::kString:
      return !v.s.empty();
    case Kind::kBool:
      return v.b;
    case Kind::kInt:
      return v.i != 0;
    case Kind::kMap:
      return v.map != nullptr && !v.map->empty();
    case Kind::kRoot:
    case Kind::kMeta:
      return true;
  }
  return false;
}

// As Go's fmt prints the value (%v).
absl::StatusOr<std::string> Print(const Value& v) {
  switch (v.kind) {
    case Kind::kNil:
      return std::string("<no value>");
    case Kind::kString:
      return v.s;
    case Kind::kBool:
      return std::string(v.b ? "true" : "false");
    case Kind::kInt:
      return absl::StrCat(v.i);
    case Kind::kMap: {
      std::string out = "map[";
      bool first = true;
      for (const auto& [key, value] : *v.map) {
        if (!first) out += ' ';
        first = false;
        absl::StrAppend(&out, key, ":", value);
      }
      return out + "]";
    }
    case Kind::kRoot:
    case Kind::kMeta:
      break;
  }
  return absl::InvalidArgumentError("cannot print a struct (.Meta or .)");
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          absl::StrAppend(&out, "\\x", std::string(1, kHex[(c >> 4) & 0xf]),
                          std::string(1, kHex[c & 0xf]));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

// --- parsed form ---------------------------------------------------------------------------------

// Named (not anonymous): ServiceNameTemplate::Node holds these.
namespace template_internal {

struct Pipeline;

struct Operand {
  enum class Type : uint8_t { kField, kString, kInt, kBool, kIdent, kPipeline };
  Type type = Type::kString;
  std::vector<std::string> path;  // kField: segments after the dot (empty: `.` itself)
  std::string text;               // kString: the value; kIdent: the function name
  int64_t i = 0;
  bool b = false;
  std::shared_ptr<const Pipeline> sub;  // kPipeline
};

struct Command {
  std::vector<Operand> args;  // a function call when args[0] is kIdent
};

struct Pipeline {
  std::vector<Command> commands;
};

}  // namespace template_internal

using template_internal::Command;
using template_internal::Operand;
using template_internal::Pipeline;

struct ServiceNameTemplate::Node {
  enum class Type : uint8_t { kText, kAction, kIf, kWith };
  Type type = Type::kText;
  std::string text;
  Pipeline pipeline;
  std::vector<Node> then_nodes;
  std::vector<Node> else_nodes;
};

namespace {

using Node = ServiceNameTemplate::Node;

// Nesting of parentheses and of if/with blocks: deeper templates are refused (the parser and the
// executor recurse).
constexpr int kMaxDepth = 64;

constexpr std::string_view kFunctions[] = {"and",   "or",  "not",   "eq",    "ne",
                                           "index", "len", "print", "printf"};

// White space as text/template defines it for trim markers and between tokens.
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

absl::Status ErrorAt(size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("at offset ", offset, ": ", std::string(what)));
}

// A template split into text and actions; an action's `trim_left` / `trim_right` come from its
// `{{-` / `-}}` markers.
struct Item {
  bool action = false;
  std::string text;  // text, or the action's content without delimiters and trim markers
  size_t offset = 0;
  bool trim_left = false;
  bool trim_right = false;
};

absl::StatusOr<std::vector<Item>> Split(std::string_view t) {
  std::vector<Item> items;
  size_t pos = 0;
  while (pos < t.size()) {
    const size_t open = t.find("{{", pos);
    if (open == std::string_view::npos) {
      items.push_back({false, std::string(t.substr(pos)), pos});
      break;
    }
    if (open > pos) items.push_back({false, std::string(t.substr(pos, open - pos)), pos});
    Item action{true, "", open};
    size_t start = open + 2;
    if (start + 1 < t.size() && t[start] == '-' && IsSpace(t[start + 1])) {
      action.trim_left = true;
      start += 2;
    }
    // The closing "}}", skipping string literals and comments.
    size_t i = start;
    size_t close = std::string_view::npos;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"' || c == '`') {
        const size_t end = c == '`' ? t.find('`', i + 1) : [&] {
          size_t j = i + 1;
          while (j < t.size() && t[j] != '"') j += t[j] == '\\' ? 2 : 1;
          return j < t.size() ? j : std::string_view::npos;
        }();
        if (end == std::string_view::npos) return ErrorAt(i, "unterminated string");
        i = end + 1;
        continue;
      }
      if (t.compare(i, 2, "/*") == 0) {
        const size_t end = t.find("*/", i + 2);
        if (end == std::string_view::npos) return ErrorAt(i, "unterminated comment");
        i = end + 2;
        continue;
      }
      if (t.compare(i, 2, "}}") == 0) {
        close = i;
        break;
      }
      ++i;
    }
    if (close == std::string_view::npos) return ErrorAt(open, "unclosed action");
    size_t end = close;
    if (end >= start + 2 && t[end - 1] == '-' && IsSpace(t[end - 2])) {
      action.trim_right = true;
      end -= 1;
    }
    action.text = std::string(t.substr(start, end - start));
    items.push_back(std::move(action));
    pos = close + 2;
  }
  // Trim markers eat the whitespace of the neighbouring text.
  for (size_t k = 0; k < items.size(); ++k) {
    if (!items[k].action) continue;
    if (items[k].trim_left && k > 0 && !items[k - 1].action) {
      std::string& s = items[k - 1].text;
      while (!s.empty() && IsSpace(s.back())) s.pop_back();
    }
    if (items[k].trim_right && k + 1 < items.size() && !items[k + 1].action) {
      std::string& s = items[k + 1].text;
      size_t n = 0;
      while (n < s.size() && IsSpace(s[n])) ++n;
      s.erase(0, n);
    }
  }
  return items;
}

// The tokens of an action.
struct Token {
  enum class Type : uint8_t { kField, kIdent, kString, kInt, kLParen, kRParen, kPipe };
  Type type;
  std::string text;
  std::vector<std::string> path;
  int64_t i = 0;
  size_t offset = 0;
};

absl::StatusOr<std::vector<Token>> Lex(std::string_view a, size_t base) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < a.size()) {
    const char c = a[i];
    const size_t at = base + i;
    if (IsSpace(c)) {
      ++i;
    } else if (c == '(' || c == ')' || c == '|') {
      out.push_back({c == '('   ? Token::Type::kLParen
                     : c == ')' ? Token::Type::kRParen
                                : Token::Type::kPipe,
                     std::string(1, c),
                     {},
                     0,
                     at});
      ++i;
    } else if (c == '.') {
      Token tok{Token::Type::kField, "", {}, 0, at};
      ++i;
      while (i < a.size() && IsIdentStart(a[i])) {
        const size_t s = i;
        while (i < a.size() && IsIdentChar(a[i])) ++i;
        tok.path.emplace_back(a.substr(s, i - s));
        if (i < a.size() && a[i] == '.') {
          ++i;
          if (i >= a.size() || !IsIdentStart(a[i])) return ErrorAt(base + i, "bad field name");
        }
      }
      if (i < a.size() && !IsSpace(a[i]) && a[i] != ')' && a[i] != '|') {
        return ErrorAt(base + i, "bad field name");
      }
      out.push_back(std::move(tok));
    } else if (c == '"') {
      std::string s;
      ++i;
      while (i < a.size() && a[i] != '"') {
        if (a[i] == '\\' && i + 1 < a.size()) {
          const char e = a[i + 1];
          switch (e) {
            case 'n':
              s += '\n';
              break;
            case 't':
              s += '\t';
              break;
            case '\\':
            case '"':
              s += e;
              break;
            default:
              return ErrorAt(base + i, "unsupported escape in string");
          }
          i += 2;
        } else {
          s += a[i++];
        }
      }
      if (i >= a.size()) return ErrorAt(at, "unterminated string");
      ++i;
      out.push_back({Token::Type::kString, std::move(s), {}, 0, at});
    } else if (c == '`') {
      const size_t end = a.find('`', i + 1);
      if (end == std::string_view::npos) return ErrorAt(at, "unterminated string");
      out.push_back({Token::Type::kString, std::string(a.substr(i + 1, end - i - 1)), {}, 0, at});
      i = end + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < a.size() &&
                std::isdigit(static_cast<unsigned char>(a[i + 1])))) {
      const size_t s = i;
      ++i;
      while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) ++i;
      int64_t value = 0;
      if (!ParseInt(a.substr(s, i - s), &value)) return ErrorAt(at, "number out of range");
      out.push_back({Token::Type::kInt, "", {}, value, at});
    } else if (IsIdentStart(c)) {
      const size_t s = i;
      while (i < a.size() && IsIdentChar(a[i])) ++i;
      out.push_back({Token::Type::kIdent, std::string(a.substr(s, i - s)), {}, 0, at});
    } else if (c == '$') {
      return ErrorAt(at, "variables ($) are not supported");
    } else {
      return ErrorAt(at, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }
  return out;
}

class ActionParser {
 public:
  ActionParser(std::vector<Token> tokens, size_t end_offset, std::vector<std::string>* annotations)
      : tokens_(std::move(tokens)), end_offset_(end_offset), annotations_(annotations) {}

  absl::StatusOr<Pipeline> ParseAll() {
    auto p = ParsePipeline();
    if (!p.ok()) return p.status();
    if (pos_ != tokens_.size()) return ErrorAt(tokens_[pos_].offset, "unexpected token");
    return p;
  }

 private:
  absl::StatusOr<Pipeline> ParsePipeline() {
    Pipeline p;
    while (true) {
      Command cmd;
      while (pos_ < tokens_.size() && tokens_[pos_].type != Token::Type::kPipe &&
             tokens_[pos_].type != Token::Type::kRParen) {
        auto operand = ParseOperand();
        if (!operand.ok()) return operand.status();
        cmd.args.push_back(*std::move(operand));
      }
      if (cmd.args.empty()) return ErrorAt(Offset(), "missing value");
      if (cmd.args[0].type != Operand::Type::kIdent && cmd.args.size() > 1) {
        return ErrorAt(Offset(), "can't give argument to non-function");
      }
      for (size_t k = 1; k < cmd.args.size(); ++k) {
        if (cmd.args[k].type == Operand::Type::kIdent && cmd.args[k].text != "true" &&
            cmd.args[k].text != "false") {
          return ErrorAt(Offset(), absl::StrCat("function ", cmd.args[k].text,
                                                " as an argument needs parentheses"));
        }
      }
      NoteAnnotationKey(cmd);
      p.commands.push_back(std::move(cmd));
      if (pos_ < tokens_.size() && tokens_[pos_].type == Token::Type::kPipe) {
        ++pos_;
        continue;
      }
      return p;
    }
  }

  absl::StatusOr<Operand> ParseOperand() {
    Token& tok = tokens_[pos_++];
    Operand op;
    switch (tok.type) {
      case Token::Type::kField:
        op.type = Operand::Type::kField;
        op.path = std::move(tok.path);
        if (op.path.size() >= 3 && op.path[0] == "Meta" && op.path[1] == "Annotations") {
          annotations_->push_back(op.path[2]);
        }
        return op;
      case Token::Type::kString:
        op.type = Operand::Type::kString;
        op.text = std::move(tok.text);
        return op;
      case Token::Type::kInt:
        op.type = Operand::Type::kInt;
        op.i = tok.i;
        return op;
      case Token::Type::kIdent:
        if (tok.text == "true" || tok.text == "false") {
          op.type = Operand::Type::kBool;
          op.b = tok.text == "true";
          return op;
        }
        if (std::find(std::begin(kFunctions), std::end(kFunctions), tok.text) ==
            std::end(kFunctions)) {
          return ErrorAt(tok.offset, absl::StrCat("function \"", tok.text, "\" not defined"));
        }
        op.type = Operand::Type::kIdent;
        op.text = std::move(tok.text);
        return op;
      case Token::Type::kLParen: {
        if (++depth_ > kMaxDepth) return ErrorAt(tok.offset, "nested too deeply");
        auto sub = ParsePipeline();
        --depth_;
        if (!sub.ok()) return sub.status();
        if (pos_ >= tokens_.size() || tokens_[pos_].type != Token::Type::kRParen) {
          return ErrorAt(tok.offset, "unclosed parenthesis");
        }
        ++pos_;
        op.type = Operand::Type::kPipeline;
        op.sub = std::make_shared<const Pipeline>(*std::move(sub));
        return op;
      }
      case Token::Type::kRParen:
      case Token::Type::kPipe:
        break;
    }
    return ErrorAt(tok.offset, "unexpected token");
  }

  // `index .Meta.Annotations "key"`: the informer must keep that annotation.
  void NoteAnnotationKey(const Command& cmd) {
    if (cmd.args.size() >= 3 && cmd.args[0].type == Operand::Type::kIdent &&
        cmd.args[0].text == "index" && cmd.args[1].type == Operand::Type::kField &&
        cmd.args[1].path == std::vector<std::string>{"Meta", "Annotations"} &&
        cmd.args[2].type == Operand::Type::kString) {
      annotations_->push_back(cmd.args[2].text);
    }
  }

  size_t Offset() const { return pos_ < tokens_.size() ? tokens_[pos_].offset : end_offset_; }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  size_t end_offset_;
  std::vector<std::string>* annotations_;
};

// Fields a template may name from the top-level `.` (anything deeper than a map key is refused).
absl::Status CheckRootField(const std::vector<std::string>& path, size_t offset) {
  if (path.empty()) return absl::OkStatus();
  if (path[0] == "ContainerName" && path.size() == 1) return absl::OkStatus();
  if (path[0] == "Meta") {
    if (path.size() == 1) return absl::OkStatus();
    const std::string& f = path[1];
    if ((f == "Name" || f == "Namespace" || f == "Kind") && path.size() == 2) {
      return absl::OkStatus();
    }
    if ((f == "Labels" || f == "Annotations") && path.size() <= 3) return absl::OkStatus();
  }
  return ErrorAt(offset, absl::StrCat("field .", absl::StrJoin(path, "."),
                                      " is not supported (.Meta.Name, .Meta.Namespace, "
                                      ".Meta.Kind, .Meta.Labels, .Meta.Annotations, "
                                      ".ContainerName)"));
}

absl::Status CheckFields(const Pipeline& p, size_t offset) {
  for (const Command& cmd : p.commands) {
    for (const Operand& op : cmd.args) {
      if (op.type == Operand::Type::kField) {
        if (absl::Status s = CheckRootField(op.path, offset); !s.ok()) return s;
      } else if (op.type == Operand::Type::kPipeline) {
        if (absl::Status s = CheckFields(*op.sub, offset); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

class TreeParser {
 public:
  TreeParser(std::vector<Item> items, std::vector<std::string>* annotations)
      : items_(std::move(items)), annotations_(annotations) {}

  absl::StatusOr<std::vector<Node>> ParseAll() {
    std::string terminator;
    auto nodes = ParseList(&terminator, /*with_depth=*/0);
    if (!nodes.ok()) return nodes.status();
    if (!terminator.empty())
      return ErrorAt(last_offset_, absl::StrCat("unexpected {{", terminator, "}}"));
    return nodes;
  }

 private:
  // Nodes up to {{end}} / {{else ...}} (named in *terminator) or the end of the template.
  absl::StatusOr<std::vector<Node>> ParseList(std::string* terminator, int with_depth) {
    std::vector<Node> nodes;
    while (pos_ < items_.size()) {
      Item& item = items_[pos_++];
      last_offset_ = item.offset;
      if (!item.action) {
        if (!item.text.empty()) nodes.push_back({Node::Type::kText, std::move(item.text)});
        continue;
      }
      const std::string_view content = StripWhitespace(item.text);
      if (content.starts_with("/*")) {
        if (!content.ends_with("*/")) return ErrorAt(item.offset, "comment ends before the action");
        continue;
      }
      const size_t content_offset = item.offset + 2 + (item.trim_left ? 2 : 0);
      size_t word_end = 0;
      while (word_end < content.size() && IsIdentChar(content[word_end])) ++word_end;
      const std::string_view word = content.substr(0, word_end);
      const std::string_view rest = content.substr(word_end);
      if (word == "end") {
        if (!rest.empty()) return ErrorAt(item.offset, "unexpected text after end");
        *terminator = "end";
        return nodes;
      }
      if (word == "else") {
        *terminator = std::string(content);
        pending_else_ = std::string(rest);
        pending_else_offset_ = content_offset + word_end;
        return nodes;
      }
      if (word == "if" || word == "with") {
        auto node = ParseControl(word == "if" ? Node::Type::kIf : Node::Type::kWith, rest,
                                 content_offset + word_end, item.offset, with_depth);
        if (!node.ok()) return node.status();
        nodes.push_back(*std::move(node));
        continue;
      }
      if (word == "range" || word == "template" || word == "define" || word == "block" ||
          word == "break" || word == "continue") {
        return ErrorAt(item.offset, absl::StrCat("{{", std::string(word), "}} is not supported"));
      }
      auto pipeline = ParsePipeline(content, content_offset, with_depth);
      if (!pipeline.ok()) return pipeline.status();
      Node node{Node::Type::kAction};
      node.pipeline = *std::move(pipeline);
      nodes.push_back(std::move(node));
    }
    return nodes;
  }

  absl::StatusOr<Node> ParseControl(Node::Type type, std::string_view condition, size_t offset,
                                    size_t item_offset, int with_depth) {
    if (++nesting_ > kMaxDepth) return ErrorAt(item_offset, "nested too deeply");
    absl::StatusOr<Node> node = ParseControlBody(type, condition, offset, item_offset, with_depth);
    --nesting_;
    return node;
  }

  absl::StatusOr<Node> ParseControlBody(Node::Type type, std::string_view condition, size_t offset,
                                        size_t item_offset, int with_depth) {
    Node node{type};
    auto pipeline = ParsePipeline(condition, offset, with_depth);
    if (!pipeline.ok()) return pipeline.status();
    node.pipeline = *std::move(pipeline);
    std::string terminator;
    auto then_nodes =
        ParseList(&terminator, type == Node::Type::kWith ? with_depth + 1 : with_depth);
    if (!then_nodes.ok()) return then_nodes.status();
    node.then_nodes = *std::move(then_nodes);
    if (terminator.empty()) return ErrorAt(item_offset, "missing {{end}}");
    if (terminator == "end") return node;
    // {{else}} or {{else if ...}} / {{else with ...}}.
    const std::string_view rest = StripWhitespace(pending_else_);
    const size_t rest_offset = pending_else_offset_;
    if (rest.empty()) {
      auto else_nodes = ParseList(&terminator, with_depth);
      if (!else_nodes.ok()) return else_nodes.status();
      if (terminator != "end") return ErrorAt(item_offset, "missing {{end}} after {{else}}");
      node.else_nodes = *std::move(else_nodes);
      return node;
    }
    size_t word_end = 0;
    while (word_end < rest.size() && IsIdentChar(rest[word_end])) ++word_end;
    const std::string_view word = rest.substr(0, word_end);
    if (word != "if" && word != "with") return ErrorAt(rest_offset, "unexpected text after else");
    // The chained branch ends at the same {{end}}.
    auto chained =
        ParseControl(word == "if" ? Node::Type::kIf : Node::Type::kWith, rest.substr(word_end),
                     rest_offset + word_end, item_offset, with_depth);
    if (!chained.ok()) return chained.status();
    node.else_nodes.push_back(*std::move(chained));
    return node;
  }

  absl::StatusOr<Pipeline> ParsePipeline(std::string_view text, size_t offset, int with_depth) {
    auto tokens = Lex(text, offset);
    if (!tokens.ok()) return tokens.status();
    if (tokens->empty()) return ErrorAt(offset, "missing value");
    ActionParser parser(*std::move(tokens), offset + text.size(), annotations_);
    auto pipeline = parser.ParseAll();
    if (!pipeline.ok()) return pipeline.status();
    // Inside {{with}} `.` is another value: its fields are checked when the template runs.
    if (with_depth == 0) {
      if (absl::Status s = CheckFields(*pipeline, offset); !s.ok()) return s;
    }
    return pipeline;
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
  int nesting_ = 0;
  size_t last_offset_ = 0;
  std::string pending_else_;
  size_t pending_else_offset_ = 0;
  std::vector<std::string>* annotations_;
};

// --- execution -----------------------------------------------------------------------------------

class Executor {
 public:
  explicit Executor(const PodMetadata& pod) : pod_(pod) {}

  absl::Status Run(const std::vector<Node>& nodes, const Value& dot, std::string* out) {
    for (const Node& node : nodes) {
      switch (node.type) {
        case Node::Type::kText:
          out->append(node.text);
          break;
        case Node::Type::kAction: {
          auto v = EvalPipeline(node.pipeline, dot);
          if (!v.ok()) return v.status();
          auto text = Print(*v);
          if (!text.ok()) return text.status();
          out->append(*text);
          break;
        }
        case Node::Type::kIf:
        case Node::Type::kWith: {
          auto v = EvalPipeline(node.pipeline, dot);
          if (!v.ok()) return v.status();
          const bool truth = Truth(*v);
          const Value& inner = node.type == Node::Type::kWith && truth ? *v : dot;
          if (absl::Status s = Run(truth ? node.then_nodes : node.else_nodes, inner, out);
              !s.ok()) {
            return s;
          }
          break;
        }
      }
      if (out->size() > 4096) return absl::InvalidArgumentError("output longer than 4096 bytes");
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<Value> EvalPipeline(const Pipeline& p, const Value& dot) {
    std::optional<Value> piped;
    for (const Command& cmd : p.commands) {
      auto v = EvalCommand(cmd, dot, piped ? &*piped : nullptr);
      if (!v.ok()) return v.status();
      piped = *std::move(v);
    }
    return *std::move(piped);
  }

  absl::StatusOr<Value> EvalOperand(const Operand& op, const Value& dot) {
    switch (op.type) {
      case Operand::Type::kField:
        return Field(dot, op.path);
      case Operand::Type::kString:
        return Value::String(op.text);
      case Operand::Type::kInt:
        return Value::Int(op.i);
      case Operand::Type::kBool:
        return Value::Bool(op.b);
      case Operand::Type::kPipeline:
        return EvalPipeline(*op.sub, dot);
      case Operand::Type::kIdent:
        break;
    }
    return absl::InvalidArgumentError("a function is not a value");
  }

  absl::StatusOr<Value> EvalCommand(const Command& cmd, const Value& dot, const Value* piped) {
    if (cmd.args[0].type != Operand::Type::kIdent) {
      if (piped != nullptr)
        return absl::InvalidArgumentError("can't give argument to non-function");
      return EvalOperand(cmd.args[0], dot);
    }
    std::vector<Value> args;
    for (size_t k = 1; k < cmd.args.size(); ++k) {
      auto v = EvalOperand(cmd.args[k], dot);
      if (!v.ok()) return v.status();
      args.push_back(*std::move(v));
    }
    if (piped != nullptr) args.push_back(*piped);
    return Call(cmd.args[0].text, args);
  }

  absl::StatusOr<Value> Field(const Value& dot, const std::vector<std::string>& path) {
    Value v = dot;
    for (const std::string& name : path) {
      switch (v.kind) {
        case Kind::kRoot:
          if (name == "Meta") {
            v = Value{Kind::kMeta};
          } else if (name == "ContainerName") {
            v = Value::String(pod_.container_name);
          } else {
            return absl::InvalidArgumentError(absl::StrCat("can't evaluate field ", name));
          }
          break;
        case Kind::kMeta:
          if (name == "Name") {
            v = Value::String(pod_.pod_name);
          } else if (name == "Namespace") {
            v = Value::String(pod_.namespace_name);
          } else if (name == "Kind") {
            v = Value::String("Pod");
          } else if (name == "Labels") {
            v = Value::Map(&pod_.labels);
          } else if (name == "Annotations") {
            v = Value::Map(&pod_.annotations);
          } else {
            return absl::InvalidArgumentError(absl::StrCat("can't evaluate field ", name));
          }
          break;
        case Kind::kMap: {
          auto it = v.map->find(name);
          // Go: a missing key read with field syntax is "no value" (index gives "").
          v = it == v.map->end() ? Value{} : Value::String(it->second);
          break;
        }
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("can't evaluate field ", name, " of a non-struct value"));
      }
    }
    return v;
  }

  static absl::StatusOr<Value> Call(const std::string& fn, const std::vector<Value>& args) {
    auto arity = [&](size_t min) -> absl::Status {
      if (args.size() < min) {
        return absl::InvalidArgumentError(absl::StrCat("wrong number of args for ", fn));
      }
      return absl::OkStatus();
    };
    if (fn == "and" || fn == "or") {
      if (absl::Status s = arity(1); !s.ok()) return s;
      for (const Value& v : args) {
        if (Truth(v) != (fn == "and")) return v;
      }
      return args.back();
    }
    if (fn == "not") {
      if (args.size() != 1) return absl::InvalidArgumentError("wrong number of args for not");
      return Value::Bool(!Truth(args[0]));
    }
    if (fn == "eq" || fn == "ne") {
      if (absl::Status s = arity(2); !s.ok()) return s;
      if (fn == "ne" && args.size() != 2) {
        return absl::InvalidArgumentError("wrong number of args for ne");
      }
      bool equal = false;
      for (size_t k = 1; k < args.size() && !equal; ++k) {
        const Value& a = args[0];
        const Value& b = args[k];
        if (a.kind != b.kind ||
            (a.kind != Kind::kString && a.kind != Kind::kInt && a.kind != Kind::kBool)) {
          return absl::InvalidArgumentError("incompatible types for comparison");
        }
        equal = a.kind == Kind::kString ? a.s == b.s
                : a.kind == Kind::kInt  ? a.i == b.i
                                        : a.b == b.b;
      }
      return Value::Bool(fn == "eq" ? equal : !equal);
    }
    if (fn == "index") {
      if (absl::Status s = arity(1); !s.ok()) return s;
      Value v = args[0];
      for (size_t k = 1; k < args.size(); ++k) {
        if (v.kind != Kind::kMap)
          return absl::InvalidArgumentError("can't index item of that type");
        if (args[k].kind != Kind::kString) {
          return absl::InvalidArgumentError("index of a map needs a string key");
        }
        auto it = v.map->find(args[k].s);
        v = Value::String(it == v.map->end() ? std::string() : it->second);
      }
      return v;
    }
    if (fn == "len") {
      if (args.size() != 1) return absl::InvalidArgumentError("wrong number of args for len");
      if (args[0].kind == Kind::kString) return Value::Int(static_cast<int64_t>(args[0].s.size()));
      if (args[0].kind == Kind::kMap) return Value::Int(static_cast<int64_t>(args[0].map->size()));
      return absl::InvalidArgumentError("len of that type");
    }
    if (fn == "print") {
      std::string out;
      for (size_t k = 0; k < args.size(); ++k) {
        // fmt.Sprint: a space between operands when neither is a string.
        if (k > 0 && args[k - 1].kind != Kind::kString && args[k].kind != Kind::kString) {
          out += ' ';
        }
        auto text = Print(args[k]);
        if (!text.ok()) return text.status();
        out += *text;
      }
      return Value::String(std::move(out));
    }
    if (fn == "printf") return Printf(args);
    return absl::InvalidArgumentError(absl::StrCat("function ", fn, " not defined"));
  }

  static absl::StatusOr<Value> Printf(const std::vector<Value>& args) {
    if (args.empty() || args[0].kind != Kind::kString) {
      return absl::InvalidArgumentError("printf needs a format string");
    }
    const std::string& format = args[0].s;
    std::string out;
    size_t next = 1;
    for (size_t k = 0; k < format.size(); ++k) {
      if (format[k] != '%') {
        out += format[k];
        continue;
      }
      if (++k >= format.size()) {
        out += "%!(NOVERB)";
        break;
      }
      const char verb = format[k];
      if (verb == '%') {
        out += '%';
        continue;
      }
      if (verb != 's' && verb != 'v' && verb != 'd' && verb != 'q') {
        return absl::InvalidArgumentError(absl::StrCat("printf verb %", std::string(1, verb),
                                                       " is not supported (%s %v %d %q %%)"));
      }
      if (next >= args.size()) {
        absl::StrAppend(&out, "%!", std::string(1, verb), "(MISSING)");
        continue;
      }
      const Value& arg = args[next++];
      if (verb == 'd' && arg.kind != Kind::kInt) {
        return absl::InvalidArgumentError("printf %d of a non-integer");
      }
      auto text = Print(arg);
      if (!text.ok()) return text.status();
      out += verb == 'q' ? Quote(*text) : *text;
    }
    if (next < args.size()) return absl::InvalidArgumentError("printf: extra arguments");
    return Value::String(std::move(out));
  }

  const PodMetadata& pod_;
};

}  // namespace

absl::StatusOr<ServiceNameTemplate> ServiceNameTemplate::Parse(std::string_view text) {
  auto items = Split(text);
  if (!items.ok()) return items.status();
  ServiceNameTemplate t;
  TreeParser parser(*std::move(items), &t.annotation_keys_);
  auto nodes = parser.ParseAll();
  if (!nodes.ok()) return nodes.status();
  std::sort(t.annotation_keys_.begin(), t.annotation_keys_.end());
  t.annotation_keys_.erase(std::unique(t.annotation_keys_.begin(), t.annotation_keys_.end()),
                           t.annotation_keys_.end());
  t.nodes_ = std::make_shared<const std::vector<Node>>(*std::move(nodes));
  return t;
}

absl::StatusOr<std::string> ServiceNameTemplate::Execute(const PodMetadata& pod) const {
  std::string out;
  Executor executor(pod);
  if (absl::Status s = executor.Run(*nodes_, Value{Kind::kRoot}, &out); !s.ok()) return s;
  // Beyla keeps the first line, trimmed.
  return std::string(StripWhitespace(std::string_view(out).substr(0, out.find('\n'))));
}

}  // namespace loupe::identity
