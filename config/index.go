package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// posIndex maps key paths to the place of the key in the source text.
//
// github.com/BurntSushi/toml decodes values but keeps no positions, so this
// small scanner walks the (already validated) text once and records, for
// every key, table header and array element, where it starts. Paths join
// keys with dots and give array-of-tables entries and array elements their
// index: "filter.forward.rule[3].dport", "interface[1].addr",
// "sets.blocklist.elements[0]", "filter.forward.rule[5].tcp_flags.mask".
// A key that is not a bare key is quoted (see pathKey).
//
// Columns count bytes from 1, as toml.ParseError does.
type posIndex struct {
	file  string
	lines []int          // byte offset of each line start
	pos   map[string]Pos // path -> place of its key (or of its header's '[')
	seq   map[string]int // path -> order of first appearance
	arr   map[string]int // resolved array-of-tables path -> entries so far
}

// pathKey returns parent extended with key; keys that are not bare TOML
// keys are quoted so paths stay unambiguous.
func pathKey(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// pathIndex returns path extended with an array index.
func pathIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareChar(s[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// indexPositions scans src. It never fails: on text it does not understand
// it skips a byte and goes on, since the TOML library has already rejected
// invalid files and positions are only a help for messages.
func indexPositions(file string, src []byte) *posIndex {
	x := &posIndex{
		file: file,
		pos:  make(map[string]Pos),
		seq:  make(map[string]int),
		arr:  make(map[string]int),
	}
	x.lines = append(x.lines, 0)
	for i, c := range src {
		if c == '\n' {
			x.lines = append(x.lines, i+1)
		}
	}
	s := &scanner{src: src, x: x}
	s.document()
	return x
}

// at returns the position of byte offset off.
func (x *posIndex) at(off int) Pos {
	l := sort.Search(len(x.lines), func(i int) bool { return x.lines[i] > off }) - 1
	if l < 0 {
		l = 0
	}
	return Pos{File: x.file, Line: l + 1, Col: off - x.lines[l] + 1}
}

// note records path at off unless it is already known (override replaces).
func (x *posIndex) note(path string, off int, override bool) {
	if _, ok := x.pos[path]; ok && !override {
		return
	}
	if _, ok := x.seq[path]; !ok {
		x.seq[path] = len(x.seq)
	}
	x.pos[path] = x.at(off)
}

// lookup returns the place of path, else of its nearest known ancestor,
// else line 1 column 1 of the file.
func (x *posIndex) lookup(path string) Pos {
	for path != "" {
		if p, ok := x.pos[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return Pos{File: x.file, Line: 1, Col: 1}
}

// parentPath strips the last key or index of path (quotes are respected).
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	inQuote := false
	last := -1
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '.' && !inQuote:
			last = i
		}
	}
	if last < 0 {
		return ""
	}
	return path[:last]
}

// order returns the order of first appearance of path, or a large number.
func (x *posIndex) order(path string) int {
	if n, ok := x.seq[path]; ok {
		return n
	}
	return 1 << 30
}

type scanner struct {
	src []byte
	i   int
	x   *posIndex
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

// skipSpace skips blanks; with nl also newlines and comments.
func (s *scanner) skipSpace(nl bool) {
	for !s.eof() {
		switch c := s.src[s.i]; c {
		case ' ', '\t', '\r':
			s.i++
		case '\n':
			if !nl {
				return
			}
			s.i++
		case '#':
			if !nl {
				return
			}
			s.skipLine()
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) document() {
	cur := ""
	if len(s.src) >= 3 && s.src[0] == 0xEF && s.src[1] == 0xBB && s.src[2] == 0xBF {
		s.i = 3 // UTF-8 byte order mark
	}
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			cur = s.header()
		} else {
			s.keyValue(cur)
		}
		s.skipSpace(false)
		if s.i == start {
			s.i++ // no progress: skip the byte
		}
	}
}

// header reads [a.b] or [[a.b]] and returns the resolved path.
func (s *scanner) header() string {
	open := s.i
	double := s.peek(1) == '['
	if double {
		s.i += 2
	} else {
		s.i++
	}
	s.skipSpace(false)
	segs, _ := s.key()
	resolved := ""
	for k, seg := range segs {
		p := pathKey(resolved, seg)
		last := k == len(segs)-1
		switch {
		case last && double:
			s.x.note(p, open, false)
			n := s.x.arr[p]
			s.x.arr[p] = n + 1
			p = pathIndex(p, n)
			s.x.note(p, open, true)
		case last:
			if n, ok := s.x.arr[p]; ok {
				p = pathIndex(p, n-1)
			}
			s.x.note(p, open, true)
		default:
			s.x.note(p, open, false)
			if n, ok := s.x.arr[p]; ok {
				p = pathIndex(p, n-1)
			}
		}
		resolved = p
	}
	s.skipLine()
	return resolved
}

// key reads a dotted key and returns its segments and their offsets.
func (s *scanner) key() (segs []string, offs []int) {
	for !s.eof() {
		s.skipSpace(false)
		off := s.i
		var seg string
		switch c := s.peek(0); {
		case c == '"':
			seg = s.basicString()
		case c == '\'':
			seg = s.literalString()
		case isBareChar(c):
			for !s.eof() && isBareChar(s.src[s.i]) {
				s.i++
			}
			seg = string(s.src[off:s.i])
		default:
			return segs, offs
		}
		segs = append(segs, seg)
		offs = append(offs, off)
		s.skipSpace(false)
		if s.peek(0) != '.' {
			return segs, offs
		}
		s.i++
	}
	return segs, offs
}

// keyValue reads key = value under prefix.
func (s *scanner) keyValue(prefix string) {
	segs, offs := s.key()
	if len(segs) == 0 {
		s.skipLine()
		return
	}
	path := prefix
	for k, seg := range segs {
		path = pathKey(path, seg)
		s.x.note(path, offs[k], false)
	}
	s.skipSpace(false)
	if s.peek(0) != '=' {
		s.skipLine()
		return
	}
	s.i++
	s.skipSpace(false)
	s.value(path)
}

func (s *scanner) value(path string) {
	switch s.peek(0) {
	case '"':
		s.basicString()
	case '\'':
		s.literalString()
	case '[':
		s.i++
		for n := 0; !s.eof(); n++ {
			s.skipSpace(true)
			if s.eof() || s.peek(0) == ']' {
				break
			}
			start := s.i
			el := pathIndex(path, n)
			s.x.note(el, s.i, false)
			s.value(el)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.i++
			}
			if s.i == start {
				s.i++
			}
		}
		if s.peek(0) == ']' {
			s.i++
		}
	case '{':
		s.i++
		for !s.eof() {
			s.skipSpace(true)
			if s.eof() || s.peek(0) == '}' {
				break
			}
			start := s.i
			s.keyValue(path)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.i++
			}
			if s.i == start {
				s.i++
			}
		}
		if s.peek(0) == '}' {
			s.i++
		}
	default: // number, bool, date-time (which may hold one space)
		for !s.eof() {
			switch s.src[s.i] {
			case ',', ']', '}', '\n', '#', '\r':
				return
			}
			s.i++
		}
	}
}

// basicString reads "..." or """...""" and returns its decoded contents.
func (s *scanner) basicString() string {
	if s.peek(1) == '"' && s.peek(2) == '"' {
		s.i += 3
		for !s.eof() {
			switch s.src[s.i] {
			case '\\':
				s.i += 2
			case '"':
				if s.peek(1) == '"' && s.peek(2) == '"' {
					s.i += 3
					for k := 0; k < 2 && s.peek(0) == '"'; k++ {
						s.i++
					}
					return ""
				}
				s.i++
			default:
				s.i++
			}
		}
		return ""
	}
	s.i++
	var b strings.Builder
	for !s.eof() {
		c := s.src[s.i]
		switch c {
		case '"':
			s.i++
			return b.String()
		case '\n':
			return b.String()
		case '\\':
			s.i++
			s.escape(&b)
		default:
			b.WriteByte(c)
			s.i++
		}
	}
	return b.String()
}

func (s *scanner) escape(b *strings.Builder) {
	c := s.peek(0)
	s.i++
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'e':
		b.WriteByte(0x1b)
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if s.i+n > len(s.src) {
			s.i = len(s.src)
			return
		}
		v, err := strconv.ParseUint(string(s.src[s.i:s.i+n]), 16, 32)
		s.i += n
		if err == nil {
			if c == 'x' {
				b.WriteRune(rune(v))
			} else if utf8.ValidRune(rune(v)) {
				b.WriteRune(rune(v))
			}
		}
	default:
		b.WriteByte(c)
	}
}

// literalString reads '...' or ”'...”' and returns its contents.
func (s *scanner) literalString() string {
	if s.peek(1) == '\'' && s.peek(2) == '\'' {
		s.i += 3
		for !s.eof() {
			if s.src[s.i] == '\'' && s.peek(1) == '\'' && s.peek(2) == '\'' {
				s.i += 3
				for k := 0; k < 2 && s.peek(0) == '\''; k++ {
					s.i++
				}
				return ""
			}
			s.i++
		}
		return ""
	}
	s.i++
	start := s.i
	for !s.eof() && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
		s.i++
	}
	str := string(s.src[start:s.i])
	if s.peek(0) == '\'' {
		s.i++
	}
	return str
}
