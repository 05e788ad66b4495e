// Package runtime imitates apimachinery's unstructured converter (pkg/runtime/converter.go: the
// DefaultUnstructuredConverter's FromUnstructured walks a map[string]interface{} and fills a typed object by
// reflection, field by field), under the function names the real one has.
package runtime

import (
	"fmt"
	"reflect"
	"strings"
)

type unstructuredConverter struct{}

// DefaultUnstructuredConverter converts unstructured objects into typed ones.
var DefaultUnstructuredConverter = &unstructuredConverter{}

// FromUnstructured fills obj (a pointer to a struct) from u.
func (c *unstructuredConverter) FromUnstructured(u map[string]interface{}, obj interface{}) error {
	return c.FromUnstructuredWithValidation(u, obj, false)
}

// FromUnstructuredWithValidation is FromUnstructured; unknown fields are ignored.
func (c *unstructuredConverter) FromUnstructuredWithValidation(u map[string]interface{}, obj interface{}, _ bool) error {
	target := reflect.ValueOf(obj)
	if target.Kind() != reflect.Pointer || target.IsNil() {
		return fmt.Errorf("want a non-nil pointer, got %T", obj)
	}
	return fromUnstructured(reflect.ValueOf(u), target.Elem())
}

func fromUnstructured(sv, dv reflect.Value) error {
	for sv.Kind() == reflect.Interface && !sv.IsNil() {
		sv = sv.Elem()
	}
	if !sv.IsValid() {
		return nil
	}
	switch dv.Kind() {
	case reflect.Struct:
		return structFromUnstructured(sv, dv)
	case reflect.Slice:
		return sliceFromUnstructured(sv, dv)
	case reflect.Map:
		return mapFromUnstructured(sv, dv)
	case reflect.Pointer:
		dv.Set(reflect.New(dv.Type().Elem()))
		return fromUnstructured(sv, dv.Elem())
	default:
		if !sv.Type().ConvertibleTo(dv.Type()) {
			return fmt.Errorf("cannot convert %s to %s", sv.Type(), dv.Type())
		}
		dv.Set(sv.Convert(dv.Type()))
		return nil
	}
}

// jsonName is the field's name in the unstructured map (its json tag, else its name with a lower-case first letter).
func jsonName(field reflect.StructField) string {
	if tag := strings.Split(field.Tag.Get("json"), ",")[0]; tag != "" {
		return tag
	}
	return strings.ToLower(field.Name[:1]) + field.Name[1:]
}

func structFromUnstructured(sv, dv reflect.Value) error {
	if sv.Kind() != reflect.Map {
		return fmt.Errorf("want a map for %s, got %s", dv.Type(), sv.Kind())
	}
	for i := 0; i < dv.NumField(); i++ {
		value := sv.MapIndex(reflect.ValueOf(jsonName(dv.Type().Field(i))))
		if !value.IsValid() {
			continue
		}
		if err := fromUnstructured(value, dv.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func sliceFromUnstructured(sv, dv reflect.Value) error {
	if sv.Kind() != reflect.Slice {
		return fmt.Errorf("want a list for %s, got %s", dv.Type(), sv.Kind())
	}
	dv.Set(reflect.MakeSlice(dv.Type(), sv.Len(), sv.Len()))
	for i := 0; i < sv.Len(); i++ {
		if err := fromUnstructured(sv.Index(i), dv.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

func mapFromUnstructured(sv, dv reflect.Value) error {
	if sv.Kind() != reflect.Map {
		return fmt.Errorf("want a map for %s, got %s", dv.Type(), sv.Kind())
	}
	dv.Set(reflect.MakeMapWithSize(dv.Type(), sv.Len()))
	iter := sv.MapRange()
	for iter.Next() {
		value := reflect.New(dv.Type().Elem()).Elem()
		if err := fromUnstructured(iter.Value(), value); err != nil {
			return err
		}
		dv.SetMapIndex(iter.Key().Convert(dv.Type().Key()), value)
	}
	return nil
}
