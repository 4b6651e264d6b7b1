package cadencefile

import (
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// unknownKeys walks the parsed file against the format's types and returns every key no type
// knows, so one run reports them all (the decoder stops at the first).
func unknownKeys(file *ast.File) []*token.Token {
	var found []*token.Token
	for _, doc := range file.Docs {
		if doc.Body != nil {
			walkKeys(doc.Body, reflect.TypeOf(fileCadence{}), &found)
		}
	}
	return found
}

var fileStaleType = reflect.TypeOf(fileStale{})

func walkKeys(node ast.Node, t reflect.Type, found *[]*token.Token) {
	for {
		switch n := node.(type) {
		case *ast.AnchorNode:
			node = n.Value
			continue
		case *ast.TagNode:
			node = n.Value
			continue
		}
		break
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == fileStaleType { // a mapping (the move) or a ladder of rungs
		if _, ok := node.(*ast.SequenceNode); ok {
			walkKeys(node, reflect.TypeOf([]fileStaleRung{}), found)
		} else {
			walkKeys(node, reflect.TypeOf(fileStaleRule{}), found)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		var pairs []*ast.MappingValueNode
		switch n := node.(type) {
		case *ast.MappingNode:
			pairs = n.Values
		case *ast.MappingValueNode:
			pairs = []*ast.MappingValueNode{n}
		default:
			return // a type problem: the decoder reports it
		}
		for _, kv := range pairs {
			key := kv.Key.GetToken()
			if key == nil {
				continue
			}
			field, ok := fieldByKey(t, key.Value)
			if !ok {
				*found = append(*found, key)
				continue
			}
			walkKeys(kv.Value, field.Type, found)
		}
	case reflect.Slice:
		if seq, ok := node.(*ast.SequenceNode); ok {
			for _, v := range seq.Values {
				walkKeys(v, t.Elem(), found)
			}
		}
	}
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
